"""Readers and writers of input and output files.

This module holds what every reader checks on the file it is given, and how
messages show what a file held. A file that cannot be parsed is named in errors,
never quoted: its first line may be anything (a password file behind a link).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from geo_p2dd.errors import InputError

# what a column heading looks like: words, numbers, units; at most 60 characters
_HEADING = re.compile(r"^[\w .,/()\[\]%#&+°'-]{1,60}$")


def input_file(path: str | Path) -> Path:
    """Check that ``path`` is a non-empty regular file a reader may open.

    A symbolic link is followed only to a file in the link's own folder tree;
    devices, pipes and directories are refused.

    Raises
    ------
    InputError
        Missing, empty or special file, or a link pointing elsewhere.
    """
    path = Path(path)
    if not path.exists():
        raise InputError("file not found", file=str(path))
    if path.is_symlink():
        target = path.resolve()
        home = path.absolute().parent.resolve()
        if not target.is_relative_to(home):
            raise InputError(
                "the file is a symbolic link to a file outside its folder", file=str(path),
                expected=f"a file inside {home}", found=f"a link to {target}",
                hint="copy the file here instead of linking to it")
    if not path.is_file():
        raise InputError("not a regular file", file=str(path),
                         expected="a data file", found="a directory, device or pipe")
    if path.stat().st_size == 0:
        raise InputError("file is empty", file=str(path))
    return path


def shown_columns(headers: Iterable[object]) -> str:
    """Column headings for a message; text that does not look like a heading is not quoted.

    Examples
    --------
    >>> shown_columns(["kode", "nama"])
    'kode, nama'
    >>> shown_columns(["root:x:0:0:root:/root:/bin/bash"])
    '1 heading(s) that do not look like column names (not shown)'
    """
    shown, hidden = [], 0
    for h in headers:
        text = str(h)
        if _HEADING.match(text):
            shown.append(text)
        else:
            hidden += 1
    if hidden:
        shown.append(f"{hidden} heading(s) that do not look like column names (not shown)")
    return ", ".join(shown)
