"""Where a benchmark's result goes besides the terminal: a Markdown file under docs/benchmarks/,
with the command that produced it, the date, the commit and the machine (CPU model, cores, its
bf16 and int8 instructions, the GPU), so a table in the docs is always one a bench script wrote.

    report.write("scoring", "Scoring", table, notes="...")   # docs/benchmarks/scoring.md

docs/benchmarks.md explains each bench and links its file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FOLDER = ROOT / "docs" / "benchmarks"
# What decides which precision wins (ml/models/precision.py): AMX tiles, AVX-512 bf16/fp16 and VNNI int8.
CPU_FLAGS = ("amx_bf16", "amx_int8", "avx512_bf16", "avx512_fp16", "avx512_vnni", "avx_vnni")
# oneDNN's instruction cap (AVX512_CORE keeps bf16 off its native instructions): a bench run
# under it measures a CPU without them, and its file says so in its name and header.
ONEDNN_ISA = os.environ.get("ONEDNN_MAX_CPU_ISA")
# The machine may be shared: its load when the bench started (this module's import) and ended.
LOAD_AT_START = os.getloadavg()[0] if hasattr(os, "getloadavg") else None


def cpu() -> dict[str, object]:
    """The CPU's model, cores and CPU_FLAGS, from /proc/cpuinfo (empty where there is none)."""
    model, flags = "unknown", set()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model == "unknown":
            model = value.strip()
        elif key.strip() == "flags" and not flags:
            flags = set(value.split())
    return {"model": model, "cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "flags": {flag: flag in flags for flag in CPU_FLAGS}}


def gpu() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    return torch.cuda.get_device_name() if torch.cuda.is_available() else None


def commit() -> str:
    """The short commit, marked when the working tree differs from it."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown"
    return head + (" with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def command() -> str:
    """How the bench was started, with paths inside the repository relative to it and any other
    path as <dir>, so a file never records where this machine keeps things."""
    def shown(arg: str) -> str:
        path = Path(arg)
        if not path.is_absolute():
            return arg
        try:
            return str(path.resolve().relative_to(ROOT))
        except ValueError:
            return "<dir>"
    return " ".join(["python", *(shown(arg) for arg in sys.argv)])


def flags() -> str:
    """"amx_bf16 no, avx512_bf16 yes, ...": the CPU_FLAGS this CPU has and lacks."""
    return ", ".join(f"{flag} {'yes' if present else 'no'}" for flag, present in cpu()["flags"].items())


def header(title: str) -> str:
    machine = cpu()
    lines = [f"# {title}", "",
             "Written by the bench script, not by hand: run the command again to replace it.", "",
             f"- command: `{command()}`",
             f"- date: {date.today().isoformat()}",
             f"- commit: {commit()}",
             f"- CPU: {machine['model']}, {machine['cores']} cores; {flags()}"]
    if ONEDNN_ISA:
        lines.append(f"- oneDNN capped: `ONEDNN_MAX_CPU_ISA={ONEDNN_ISA}`")
    if (name := gpu()) is not None:
        lines.append(f"- GPU: {name}")
    if LOAD_AT_START is not None:
        lines.append(f"- load average (1 min): {LOAD_AT_START:.1f} at the start, {os.getloadavg()[0]:.1f} at the end")
    return "\n".join(lines)


def write(name: str, title: str, body: str, notes: str = "", folder: Path = FOLDER) -> Path:
    """docs/benchmarks/<name>.md (<name>-<isa>.md under a oneDNN cap): the header, the body (a
    Markdown table) and notes; its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (f"{name}-{ONEDNN_ISA.lower()}.md" if ONEDNN_ISA else f"{name}.md")
    path.write_text("\n\n".join(part for part in (header(title), body.strip(), notes.strip()) if part) + "\n")
    print(f"written: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    return path


def table(rows: list[dict], floatfmt: str = ",.2f") -> str:
    """Rows of equal keys as a Markdown table; None is an empty cell, integers keep their type."""
    from tabulate import tabulate

    headers = list(rows[0])
    return tabulate([[row.get(header) for header in headers] for row in rows], headers=headers, tablefmt="pipe",
                    floatfmt=floatfmt, intfmt=",", missingval="")
