"""`clm sql` as an analyst's shell uses it: `--csv` output goes into pipes, `cut`, `diff` and
`tail`, so its lines end with a plain LF, never CRLF."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

from tests.conftest import clm_env


def clm_bytes(home: Path, *args: str) -> bytes:
    """The real `clm` command's standard output as bytes: text mode would turn CRLF into LF."""
    completed = subprocess.run([str(Path(sys.executable).with_name("clm")), *args], env=clm_env(home),
                               capture_output=True, check=False)
    assert completed.returncode == 0, completed.stderr.decode()
    return completed.stdout


def test_sql_csv_ends_lines_with_lf_and_quotes_like_csv(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    with duckdb.connect(str(home / "analytics.duckdb")) as con:  # where `clm sql` looks (ml/settings.py)
        con.execute("create table customers (customer_id integer, note varchar, churn double)")
        con.execute("insert into customers values (1, 'plain', 0.25), (2, 'a, b', null), (3, 'say \"hi\"', 1.0)")

    assert clm_bytes(home, "sql", "--csv", "select 1=1 as ok") == b"ok\nTrue\n"
    out = clm_bytes(home, "sql", "--csv", "select * from customers order by customer_id")
    assert b"\r" not in out
    assert out == b'customer_id,note,churn\n1,plain,0.25\n2,"a, b",\n3,"say ""hi""",1.0\n'
