"""Errors raised by geo_p2dd.

Every error derives from :class:`GeoP2DDError`; subclasses also inherit the
matching built-in so callers may catch ``ValueError`` or ``LookupError``.
"""

from __future__ import annotations


def _expected_found(expected: str | None, found: str | None, hint: str | None) -> str:
    """"; expected …, found …. hint" — the tail every input or setting error shares."""
    text = ""
    if expected is not None:
        text += f"; expected {expected}"
    if found is not None:
        text += f", found {found}"
    if hint:
        text += f". {hint}"
    return text


class GeoP2DDError(Exception):
    """Root of every error raised on purpose by geo_p2dd."""


class InputError(GeoP2DDError, ValueError):
    """Input data that cannot be used as given.

    Parameters
    ----------
    message : str
        What is wrong, in a sentence a user understands.
    file : str, optional
        The file the problem is in.
    row : int or str, optional
        Row number (1-based, as a spreadsheet shows it) or feature id.
    column : str, optional
        The column concerned.
    expected, found : str, optional
        What was expected and what was found.
    hint : str, optional
        How to fix it.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | str | None = None,
        column: str | None = None,
        expected: str | None = None,
        found: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.row = row
        self.column = column
        self.expected = expected
        self.found = found
        self.hint = hint
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.file:
            where.append(f"file {self.file}")
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column:
            where.append(f"column {self.column!r}")
        text = (", ".join(where) + ": " if where else "") + self.message
        return text + _expected_found(self.expected, self.found, self.hint)


class ProjectError(GeoP2DDError, RuntimeError):
    """The project directory is missing, incomplete or inconsistent."""


class ProjectBusyError(ProjectError):
    """Another writer holds the project's lock and did not finish in time."""


class NotFoundError(GeoP2DDError, LookupError):
    """A village, layer or region that the project does not hold."""


class ConfigError(GeoP2DDError, ValueError):
    """A ``project.toml`` whose settings cannot be used; names the file and every bad key.

    Parameters
    ----------
    problems : sequence of ConfigProblem
        Every problem found (validation does not stop at the first).
    file : str, optional
        The configuration file.
    """

    def __init__(self, problems: list[ConfigProblem], *, file: str | None = None) -> None:
        self.problems = list(problems)
        self.file = None if file is None else str(file)
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        if len(self.problems) == 1:
            return where + str(self.problems[0])
        lines = [f"{where}{len(self.problems)} problems in the configuration:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigProblem:
    """One bad setting: its dotted key, what is wrong, what is allowed and what was found."""

    __slots__ = ("key", "message", "expected", "found", "hint")

    def __init__(self, key: str, message: str, *, expected: str | None = None,
                 found: str | None = None, hint: str | None = None) -> None:
        self.key = key
        self.message = message
        self.expected = expected
        self.found = found
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" + _expected_found(self.expected, self.found,
                                                               self.hint)

    def __repr__(self) -> str:
        return f"ConfigProblem({self.key!r}, {self.message!r})"


class RowProblem:
    """One rejected or repaired row of an import, kept for the import report."""

    __slots__ = ("row", "column", "reason")

    def __init__(self, row: int | str, column: str | None, reason: str) -> None:
        self.row = row
        self.column = column
        self.reason = reason

    def __str__(self) -> str:
        col = f" column {self.column!r}" if self.column else ""
        return f"row {self.row}{col}: {self.reason}"

    def __repr__(self) -> str:
        return f"RowProblem({self.row!r}, {self.column!r}, {self.reason!r})"
