"""Customer: one customer's whole story, in words and over time."""

import streamlit as st

from ml.dashboard.queries import story
from ml.dashboard.view import ask, latest, over_time, page

with page("Customer"):
    as_of = latest()
    default = st.query_params.get("customer") or ask("first_customer", as_of) or ""
    customer_id = st.text_input("Customer id", value=default).strip()
    profile = ask("customer_profile", customer_id) if customer_id else None
    if profile is None:
        st.info(f"No customer {customer_id!r} in customer_segments: enter an id from the alert list.")
    else:
        st.query_params["customer"] = customer_id
        st.markdown(story(profile))
        history = ask("customer_history", customer_id)
        left, right = st.columns(2)
        with left:
            st.subheader("Churn probability over time")
            over_time(history, "churn_probability", "churn probability")
        with right:
            st.subheader("Expected spend over time")
            over_time(history, "expected_spend", "expected spend")
        st.subheader("Recommendations")
        st.dataframe(ask("customer_recommendations", customer_id), hide_index=True)
        st.subheader("Reviews and their sentiment")
        reviews = ask("customer_reviews", customer_id)
        if reviews.empty:
            st.caption("No reviews.")
        else:
            st.dataframe(reviews, hide_index=True)
