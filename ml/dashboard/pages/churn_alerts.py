"""Churn alerts: the call list of the newest scoring date with its three reasons, filtered,
paged in SQL and downloadable as CSV."""

import streamlit as st

from ml.dashboard.queries import Alerts
from ml.dashboard.view import ask, latest, page

PAGE_ROWS = 50

with page("Churn alerts"):
    as_of = latest()
    choices = ask("alert_choices", as_of)
    columns = st.columns(3)
    chosen = Alerts(segments=tuple(columns[0].multiselect("Segment", choices["segments"])),
                    tiers=tuple(columns[1].multiselect("Value tier", choices["tiers"])),
                    actions=tuple(columns[2].multiselect("Action", choices["actions"])))
    count = ask("alert_count", as_of, chosen)
    st.caption(f"{count:,} customers to call on {as_of}, the most value at stake first.")
    if count:
        pages = (count - 1) // PAGE_ROWS + 1
        number = st.number_input(f"Page (of {pages})", min_value=1, max_value=pages, value=1) if pages > 1 else 1
        shown = ask("alerts", as_of, chosen, PAGE_ROWS, (number - 1) * PAGE_ROWS)
        st.table(shown.style.format({"churn_probability": "{:.1%}", "value_at_stake": "{:,.0f}"}).hide(axis="index"))
        st.download_button("Download the list as CSV", ask("alerts", as_of, chosen, None).to_csv(index=False),
                           file_name=f"churn_alerts_{as_of}.csv", mime="text/csv")
