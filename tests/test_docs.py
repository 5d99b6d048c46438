"""The docs and the comments name files that exist, and the README stays a front door.

A path is a word that starts with a top-level folder of the repository (ml/, dags/, ...) or is
one of its top-level files (README.md, Makefile, ...). It is looked for in the README and
docs/, in the comments and docstrings of the Python code, in the dbt project's SQL comments
and YAML, and in the comments of the Makefile and docker-compose.yml. Globs and placeholders
(`dbt_project/models/**/_*.yml`, `docs/decisions/<number>-<name>.md`) are skipped; a module
named with one of its attributes (`ml/models/networks.pick_device`) must exist as a module.
The changelog is history: it names files that are gone on purpose, and only its links are checked.
"""

from __future__ import annotations

import ast
import importlib.util
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("ml", "dags", "dbt_project", "expectations", "tests", "bench", "docs", "docker", ".ci")
FILES = ("README.md", "pyproject.toml", "Makefile", "docker-compose.yml")
README_MAX_LINES = 260
HISTORY = ("docs/changelog.md",)
# A path: not glued to what comes before (`/data/ml/x`, `.clm/docs/`, `CLM_HOME/runs/`).
FOLDER_NAMES = "|".join(re.escape(folder) for folder in FOLDERS)
FILE_NAMES = "|".join(re.escape(name) for name in FILES)
PATH = re.compile(rf"(?<![\w./~$-])((?:{FOLDER_NAMES})/[\w./*<>{{}}\[\]-]*|(?:{FILE_NAMES})(?![\w.-]))")
FILE_SUFFIXES = {".py", ".md", ".sql", ".yml", ".yaml", ".json", ".csv", ".toml", ".png", ".sh", ".txt", ".html",
                 ".cfg", ".ini", ".parquet", ".duckdb", ".lock"}
# [text](target) and ![alt](target); the target ends at a space (a title) or the closing bracket.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def python_prose(path: Path) -> str:
    """The comments and docstrings of a Python file, one per line."""
    source = path.read_text()
    parts = [token.string for token in tokenize.generate_tokens(io.StringIO(source).readline)
             if token.type == tokenize.COMMENT]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            parts.append(ast.get_docstring(node, clean=False) or "")
    return "\n".join(parts)


def sql_prose(path: Path) -> str:
    """The `--` comments and `{# ... #}` blocks of a dbt SQL file."""
    text = path.read_text()
    return "\n".join(re.findall(r"--[^\n]*", text) + re.findall(r"\{#.*?#\}", text, flags=re.S))


def hash_comments(path: Path) -> str:
    return "\n".join(line.split("#", 1)[1] for line in path.read_text().splitlines() if "#" in line)


def prose_by_file() -> dict[Path, str]:
    """Every place a file name may be written for a reader, with the text to search."""
    prose = {path: path.read_text() for path in markdown_files() if str(path.relative_to(ROOT)) not in HISTORY}
    python = [*(ROOT / "ml").rglob("*.py"), *(ROOT / "dags").glob("*.py"), *(ROOT / "bench").glob("*.py"),
              *(ROOT / "tests").glob("*.py")]
    prose.update({path: python_prose(path) for path in sorted(python)})
    prose.update({path: sql_prose(path) for path in sorted((ROOT / "dbt_project").rglob("*.sql"))
                  if not {"target", "logs", "dbt_packages"} & set(path.relative_to(ROOT).parts)})
    prose.update({path: path.read_text() for path in sorted((ROOT / "dbt_project").rglob("*.yml"))
                  if not {"target", "logs", "dbt_packages"} & set(path.relative_to(ROOT).parts)})
    prose.update({ROOT / name: hash_comments(ROOT / name) for name in ("Makefile", "docker-compose.yml")})
    return prose


def named_paths(text: str) -> set[str]:
    """The repository paths a text names, trailing punctuation and placeholders dropped."""
    found = set()
    for match in PATH.finditer(text):
        path = match.group(1).rstrip(".,:;")
        if not re.search(r"[*<>{}\[\]]", path):
            found.add(path)
    return found


def exists(path: str) -> bool:
    """The file or folder, or for `pkg/module.attribute` the module."""
    if (ROOT / path).exists():
        return True
    folder, _, name = path.rpartition("/")
    stem, dot, attribute = name.partition(".")
    return bool(dot and f".{attribute.split('.')[-1]}" not in FILE_SUFFIXES
                and (ROOT / folder / f"{stem}.py").exists())


def test_paths_named_in_docs_and_comments_exist():
    missing = sorted(f"{file.relative_to(ROOT)}: {path}" for file, text in prose_by_file().items()
                     for path in named_paths(text) if not exists(path))
    assert not missing, "named but not in the repository:\n" + "\n".join(missing)


def test_the_path_finder_reads_paths_as_a_reader_would():
    text = ("see ml/data/dbt_runner.py, `tests/test_schema.py`; dbt_project/models/**/_*.yml and "
            "docs/decisions/<n>.md are patterns; CLM_HOME/runs/x.json, .clm/docs/a and /data/ml/b are not ours; "
            "README.md and ml/models/networks.pick_device.")
    assert named_paths(text) == {"ml/data/dbt_runner.py", "tests/test_schema.py", "README.md",
                                 "ml/models/networks.pick_device"}
    assert exists("ml/models/networks.pick_device") and exists("ml/") and not exists("ml/models/nowhere.py")
    assert not exists("ml/features.render_text") and not exists("tests/test_dbt_graph.py")


def test_readme_is_a_front_door():
    lines = len((ROOT / "README.md").read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move the detail into docs/"


@pytest.mark.parametrize("page", markdown_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_point_at_files(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z][a-z0-9+.-]*:|#", target):  # https:, mailto:, an anchor on the page
            continue
        if not (page.parent / target.split("#", 1)[0]).exists():
            broken.append(target)
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


def test_bench_reports_name_the_machine_and_the_command(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    report = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(report)
    monkeypatch.setattr("sys.argv", [str(ROOT / "bench" / "scoring.py"), "--customers", "2000",
                                     "--work", str(tmp_path / "scratch")])
    written = report.write("scoring", "Scoring", "| a |\n|--:|\n| 1 |", folder=tmp_path)
    text = written.read_text()
    assert written == tmp_path / "scoring.md"
    assert "python bench/scoring.py --customers 2000 --work <dir>" in text
    assert str(ROOT) not in text and str(tmp_path) not in text
    for field in ("CPU", "cores", "amx_bf16", "avx512_bf16", "load average", "| 1 |"):
        assert field in text
