"""What every page shares: where the analysts' database is, its queries cached until a run
swaps a new file in, and a page body that shows one sentence instead of a traceback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import altair as alt
import pandas as pd
import streamlit as st

from ml import settings as settings_module
from ml.dashboard import queries


def database() -> Path:
    """The analysts' database `clm info` names (CLM_ANALYTICS_DB), read again on every rerun."""
    return settings_module.load().analytics_db


@st.cache_data(show_spinner=False, max_entries=1024)
def _answer(name: str, path: str, signature: tuple[int, int], args: tuple):
    return getattr(queries, name)(Path(path), *args)


def ask(name: str, *args):
    """queries.<name>(database, *args), computed once per published file: the key holds the
    file's inode and mtime, so the first rerun after a run's swap reads the new file."""
    path = database()
    return _answer(name, str(path), queries.signature(path), args)


def latest() -> date:
    return ask("latest_date")


@contextmanager
def page(title: str) -> Iterator[None]:
    """A page's title, then its body; a database it cannot show becomes one sentence."""
    st.title(title)
    try:
        yield
    except queries.Unavailable as error:
        st.info(str(error))


def money(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:,.0f}"


def percent(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:.1%}"


def over_time(frame: pd.DataFrame, y: str, title: str) -> None:
    """`y` by scoring date as a line with its points: a first date is a point, not nothing."""
    st.altair_chart(alt.Chart(frame).mark_line(point=True).encode(x=alt.X("as_of:T", title="scoring date"),
                                                                  y=alt.Y(f"{y}:Q", title=title)), width="stretch")
