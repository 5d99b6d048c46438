"""`clm dashboard`: the pages a CRM marketer opens, over the analysts' database (Streamlit).

`streamlit run` runs this file on every interaction; it only sets the page up and picks the
page, each of which lives in pages/ and asks ml.dashboard.queries for what it shows."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).with_name("pages")

st.set_page_config(page_title="clm", layout="wide")
st.navigation([
    st.Page(PAGES / "overview.py", title="Overview", default=True),
    st.Page(PAGES / "churn_alerts.py", title="Churn alerts"),
    st.Page(PAGES / "actions.py", title="Actions and campaigns"),
    st.Page(PAGES / "customer.py", title="Customer"),
    st.Page(PAGES / "model.py", title="Model"),
]).run()
