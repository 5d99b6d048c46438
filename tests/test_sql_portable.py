"""One dbt project, two engines: no model, test or shared macro uses DuckDB-only SQL. What only
one engine says lives in a dispatched macro under dbt_project/macros/cross_db/ (default__,
duckdb__, spark__ bodies), or comes from dbt's own cross-database macros (dbt.datediff,
dbt.dateadd, dbt.date_trunc)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent / "dbt_project"
CROSS_DB = PROJECT / "macros" / "cross_db"

# Each: what DuckDB says, and what to write instead.
DUCKDB_ONLY = {
    r"\*\s*exclude\s*\(": "select * exclude: {{ star_except(relation, [names]) }}",
    r"\bstruct_pack\s*\(|\{\s*'\w+'\s*:": "a struct: {{ clm.tuple_of(...) }}",
    r"\barg_(?:max|min)\s*\(": "arg_max/arg_min: max_by/min_by (both engines)",
    r"\bdate_diff\s*\(|(?<!\.)\bdatediff\s*\(": "date_diff: {{ dbt.datediff(start, end, 'day') }}",
    r"\bdate_add\s*\(|\bto_(?:days|months|years)\s*\(|\binterval\s+'?\d+'?\s*(?:day|month|year)":
        "date arithmetic: {{ dbt.dateadd('day', n, date) }}",
    r"\bepoch\s*\(": "epoch(): {{ clm.fractional_days(start, end) }}",
    r"\bunnest\s*\(|\bgenerate_subscripts\s*\(": "unnest: {{ clm.unnest_with_position(array, value, position) }}",
    r"\bregexp_extract_all\s*\(": "regexp_extract_all: {{ clm.regexp_matches(text, pattern) }}",
    r"\brange\s*\(\s*\d": "range(...) as a table: a Jinja loop or a seed",
    r"\bread_(?:parquet|csv|json)\w*\s*\(": "reading files: a source (the raw tables are sources)",
    r"::\s*\w": "a :: cast: cast(x as type)",
    r"\bqualify\b": "qualify: filter a window in an outer select",
    r"\^": "^ is XOR on Spark: power(x, 2)",
    r"\bas\s+varchar\b": "varchar: string (both engines)",
    r"\bu(?:big|small|tiny)?int\b|\bhugeint\b": "unsigned integers: bigint, or a cross_db macro",
    r"\bat\s+time\s+zone\b": "time zones: {{ clm.utc_now() }}",
    r"\bunion\s+(?:all\s+)?by\s+name\b": "union by name: list the columns",
    r"\blist_\w+\s*\(|\[\s*\d+\s*\]": "lists: a cross_db macro",
}


def sql_files() -> list[Path]:
    """Every SQL file dbt compiles for both engines: models, tests and macros outside cross_db."""
    return sorted(p for p in PROJECT.glob("**/*.sql")
                  if "target" not in p.parts and "dbt_packages" not in p.parts and CROSS_DB not in p.parents)


def code_of(text: str) -> str:
    """The SQL and Jinja without comments ("--" lines, {# #}) and string literals, which may say
    anything (a word like 'interval' in a sentence)."""
    text = re.sub(r"\{#.*?#\}", " ", text, flags=re.S)
    text = re.sub(r"--[^\n]*", " ", text)
    return re.sub(r"'(?:[^']|'')*'", "''", text)


def violations(text: str) -> list[str]:
    code = code_of(text)
    return [advice for pattern, advice in DUCKDB_ONLY.items() if re.search(pattern, code, flags=re.I)]


def test_the_dbt_project_uses_no_duckdb_only_sql_outside_cross_db_macros():
    found = {str(path.relative_to(PROJECT)): bad for path in sql_files() if (bad := violations(path.read_text()))}
    assert not found, "DuckDB-only SQL (write instead):\n" + "\n".join(
        f"  {path}: {'; '.join(advice)}" for path, advice in found.items())


def test_the_unit_tests_hand_made_rows_are_portable_too():
    for path in PROJECT.glob("models/**/*unit_tests.yml"):
        for test in yaml.safe_load(path.read_text())["unit_tests"]:
            for given in test.get("given", []):
                if given.get("format") == "sql":
                    assert not violations(given["rows"]), f"{path.name}: {test['name']}: {violations(given['rows'])}"


def test_the_check_catches_what_the_issue_counted():
    """Each construct the first count found, as it was written, is caught."""
    for snippet in ["select * exclude (purpose) from t", "arg_max(x, y)", "struct_pack(a := 1)",
                    "date_diff('day', a, b)", "x - to_days(3)", "unnest(words)", "range(0, 12) as r(i)",
                    "read_parquet('a.parquet')", "null::varchar", "select 1 qualify row_number() over () = 1",
                    "sum(x) ^ 2", "cast(a as varchar)", "('0x' || h)::ubigint", "current_timestamp at time zone 'UTC'",
                    "a union all by name b", "epoch(ts)", "as_of - interval 30 day"]:
        assert violations(snippet), snippet
    assert not violations("-- exclude (this) from a comment\nselect 'a :: b ^ c' as text, power(x, 2)")


def test_every_cross_db_macro_dispatches_and_has_a_body_per_engine():
    for path in CROSS_DB.glob("*.sql"):
        text = path.read_text()
        name = path.stem
        assert f"adapter.dispatch('{name}', 'clm')" in text, f"{path.name} should dispatch {name}"
        assert f"macro default__{name}(" in text, f"{path.name} needs a default__ body"
        assert re.search(rf"macro (?:duckdb|spark)__{name}\(", text), f"{path.name} needs an engine's body"
