"""Model: which model scores customers, how it and the other candidates of its training did on
the holdout (metrics, calibration, cumulative gain), and how the mean churn probability drifts
across scoring dates."""

import altair as alt
import pandas as pd
import streamlit as st

from ml.dashboard.queries import Unavailable
from ml.dashboard.view import ask, latest, over_time, page

DIAGONAL = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0]})


def plot(points: pd.DataFrame, x: str, y: str) -> alt.LayerChart:
    """Each candidate's curve over the diagonal (a perfectly calibrated model, or random calls)."""
    diagonal = alt.Chart(DIAGONAL).mark_line(strokeDash=[4, 4], color="gray").encode(x="x:Q", y="y:Q")
    curves = alt.Chart(points).mark_line(point=True).encode(x=alt.X("x:Q", title=x), y=alt.Y("y:Q", title=y),
                                                            color="model:N", order="point:Q")
    return diagonal + curves


def candidates(as_of) -> None:
    """The scoring model's training: its candidates' metrics and curves."""
    shown = ask("model_candidates", as_of)
    if shown.empty:
        st.info("The training run of the scoring model is not in model_evaluation (a model promoted before "
                "clm published its metrics): they show after the next `clm train`.")
        return
    holdout = pd.Timestamp(shown["holdout_as_of"].iloc[0]).date()
    st.caption(f"Holdout up to {holdout}, {int(shown['holdout_rows'].iloc[0]):,} customer rows; scoring marks the "
               "model that scores now.")
    st.table(shown.drop(columns=["holdout_as_of", "holdout_rows"]).style.format(
        {c: "{:.3f}" for c in ("roc_auc", "pr_auc", "brier", "ece", "lift_top10", "spend_spearman")},
        na_rep="").hide(axis="index"))
    curves = ask("model_curves", as_of)
    left, right = st.columns(2)
    with left:
        st.subheader("Calibration")
        st.altair_chart(plot(curves[curves["curve"] == "calibration"], "mean predicted churn probability",
                             "share who churned"), width="stretch")
    with right:
        st.subheader("Cumulative gain")
        st.altair_chart(plot(curves[curves["curve"] == "cumulative_gain"], "share of customers contacted",
                             "share of churners reached"), width="stretch")


with page("Model"):
    as_of = latest()
    trend = ask("churn_by_date")
    st.caption(f"Scoring on {as_of}: {trend['model'].iloc[-1]}")
    st.subheader("The candidates of its training, on the holdout")
    try:
        candidates(as_of)
    except Unavailable as error:  # a file published before clm kept model_evaluation: the drift still shows
        st.info(str(error))
    st.subheader("Drift of the mean churn probability across scoring dates")
    over_time(trend, "mean_churn_probability", "mean churn probability")
    st.table(trend.style.format({"mean_churn_probability": "{:.3f}"}).hide(axis="index"))
