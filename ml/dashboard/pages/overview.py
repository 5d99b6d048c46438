"""Overview: the customer base on the newest scoring date, its trend and how it moved."""

import streamlit as st

from ml.dashboard.view import ask, latest, money, over_time, page, percent

with page("Overview"):
    as_of = latest()
    head = ask("headline", as_of)
    st.caption(f"Scoring date {as_of}")
    columns = st.columns(4)
    columns[0].metric("Customers scored", f"{head['customers']:,}")
    columns[1].metric(f"Share at risk (risk band {head['risk_band']})", percent(head["share_at_risk"]))
    columns[2].metric(f"Value at stake ({head['alerts']:,} alerts)", money(head["value_at_stake"]))
    columns[3].metric("Mean churn probability", percent(head["mean_churn_probability"]))

    st.subheader("Mean churn probability by scoring date")
    trend = ask("churn_by_date")
    over_time(trend, "mean_churn_probability", "mean churn probability")

    left, right = st.columns(2)
    for column, name, title, field in ((left, "segment_sizes", "Segments", "rfm_segment"),
                                       (right, "lifecycle_stages", "Lifecycle stages", "lifecycle_stage")):
        with column:
            sizes = ask(name)
            st.subheader(title)
            if not sizes.empty:
                st.caption(f"Customers on {sizes['as_of'].iloc[0].date()} (customer_segments).")
            st.bar_chart(sizes, x=field, y="customers", horizontal=True, sort="-customers")

    st.subheader("Moves between segments since the previous scoring date")
    moves = ask("segment_moves")
    if moves.empty:
        st.info("One scoring date so far: the moves show after the next run.")
    else:
        previous, now = moves["previous_as_of"].iloc[0].date(), moves["as_of"].iloc[0].date()
        st.caption(f"Customers by their segment on {previous} (rows) and on {now} (columns).")
        table = moves.pivot_table(index="previous_segment", columns="segment", values="customers", fill_value=0)
        st.dataframe(table.astype(int))
