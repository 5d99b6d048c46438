"""Actions and campaigns: what each next best action costs and puts at stake today, and what
each campaign earned against its holdout over time."""

import altair as alt
import streamlit as st

from ml.dashboard.view import ask, latest, page

with page("Actions and campaigns"):
    as_of = latest()
    st.caption(f"Next best actions on {as_of}; a share of each action's customers is held out to measure it.")
    summary = ask("action_summary", as_of)
    st.table(summary.style.format({"holdout_share": "{:.1%}", "cost": "{:,.0f}", "value_at_stake": "{:,.0f}"})
             .hide(axis="index"))

    st.subheader("Campaign effect: extra orders per treated customer against the holdout (95% interval)")
    effects = ask("campaign_effects")
    if effects.empty:
        st.info("No campaign has a measured effect yet: it shows once a campaign's horizon has passed "
                "after its first run.")
    else:
        base = alt.Chart(effects).encode(x=alt.X("as_of:T", title="scoring date"), color="campaign:N")
        band = base.mark_area(opacity=0.2).encode(y=alt.Y("orders_effect_low:Q", title="orders effect"),
                                                  y2="orders_effect_high:Q")
        st.altair_chart(band + base.mark_line(point=True).encode(y="orders_effect:Q"), width="stretch")
        st.dataframe(effects, hide_index=True)
