"""The analysts' database file as the apps that read it while runs replace it (the dashboard,
the support API) see it: whether it is there and readable, and which file it is now.

A run's publish renames a new file over the old one (ml/data/warehouse.py), so the file's inode
and mtime change with every run: the apps key what they cache on them.
"""

from __future__ import annotations

from pathlib import Path


class Unavailable(Exception):
    """The analysts' database cannot answer; the message says why and what to do."""


def signature(path: Path, no_run: str) -> tuple[int, int]:
    """The file's inode and mtime; Unavailable, ending with `no_run` where there is no file."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise Unavailable(f"There is no analysts' database at {path}. {no_run}") from None
    except OSError as error:
        raise Unavailable(f"The analysts' database at {path} cannot be read ({error.strerror}): give this "
                          "process read access to it and its folder.") from None
    return stat.st_ino, stat.st_mtime_ns


def first_line(error: BaseException) -> str:
    """An error's first line, for a sentence that names it; its type where it says nothing."""
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
