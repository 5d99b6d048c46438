"""Overview: the customer base on the newest scoring date, its trend and how it moved."""

import streamlit as st

from ml.dashboard.view import ask, latest, money, over_time, page

with page("Overview"):
    as_of = latest()
    head = ask("headline", as_of)
    st.caption(f"Scoring date {as_of}")
    columns = st.columns(4)
    columns[0].metric("Customers scored", f"{head['customers']:,}")
    columns[1].metric(f"Share at risk (risk band {head['risk_band']})", f"{head['share_at_risk']:.1%}")
    columns[2].metric(f"Value at stake ({head['alerts']:,} alerts)", money(head["value_at_stake"]))
    columns[3].metric("Mean churn probability", f"{head['mean_churn_probability']:.1%}")

    st.subheader("Mean churn probability by scoring date")
    trend = ask("churn_by_date")
    over_time(trend, "mean_churn_probability", "mean churn probability")

    left, right = st.columns(2)
    with left:
        st.subheader("Segments")
        st.bar_chart(ask("segment_sizes"), x="rfm_segment", y="customers", horizontal=True, sort="-customers")
    with right:
        st.subheader("Lifecycle stages")
        st.bar_chart(ask("lifecycle_stages"), x="lifecycle_stage", y="customers", horizontal=True, sort="-customers")

    st.subheader("Moves between segments since the previous scoring date")
    moves = ask("segment_moves")
    if moves.empty:
        st.info("One scoring date so far: the moves show after the next run.")
    else:
        previous = moves["previous_as_of"].iloc[0].date()
        st.caption(f"Customers by their segment on {previous} (rows) and on {as_of} (columns).")
        table = moves.pivot_table(index="previous_segment", columns="segment", values="customers", fill_value=0)
        st.dataframe(table.astype(int))
