"""The dashboard's pages, one script each, which `streamlit run` executes (ml/dashboard/app.py)."""
