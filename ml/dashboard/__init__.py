"""The dashboard wing: `clm dashboard`, a Streamlit app for CRM marketers over the analysts'
database alone, read-only (`queries` holds every query it runs; `app` and `pages/` draw them).
It imports nothing of clm but the settings: what it shows is what analysts can query."""
