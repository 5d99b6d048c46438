"""Model: which model scores customers, how the candidates did on the holdout, and how the
mean churn probability drifts across scoring dates."""

import streamlit as st

from ml.dashboard.view import ask, latest, page

with page("Model"):
    latest()
    trend = ask("churn_by_date")
    st.caption(f"Scoring now: {trend['model'].iloc[-1]}")
    st.subheader("Drift of the mean churn probability across scoring dates")
    st.line_chart(trend, x="as_of", y="mean_churn_probability")
    st.dataframe(trend, hide_index=True)
