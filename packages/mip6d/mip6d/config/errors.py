"""Where a configuration statement stands, and the error and warning that point at it.

Every problem found in a configuration, by the lexer, the parser or the semantic checks,
is a :class:`ConfigError` whose ``str()`` is ``path:line:column: message``, the form
compilers use, so that editors jump to it. Lines and columns count from 1; a tab counts
as one column. The message says what was found and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigWarning", "Location"]


@dataclass(frozen=True, slots=True)
class Location:
    """A place in a configuration file: ``path:line:column`` (1-based).

    Line 0 stands for the file as a whole (it could not be read, say); ``str()`` then
    leaves the line and column out.
    """

    path: str
    line: int
    column: int

    def __str__(self) -> str:
        if self.line <= 0:
            return self.path
        return f"{self.path}:{self.line}:{self.column}"


class ConfigError(ValueError):
    """A configuration that cannot be used, with the place of the offending statement.

    ``str()`` is ``path:line:column: message``.
    """

    def __init__(self, path: str, line: int, column: int, message: str) -> None:
        super().__init__(path, line, column, message)  # so that it pickles
        self.location = Location(path, line, column)
        self.message = message

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"

    @property
    def path(self) -> str:
        return self.location.path

    @property
    def line(self) -> int:
        return self.location.line

    @property
    def column(self) -> int:
        return self.location.column

    @classmethod
    def at(cls, location: Location, message: str) -> ConfigError:
        return cls(location.path, location.line, location.column, message)


@dataclass(frozen=True, slots=True)
class ConfigWarning:
    """Something accepted that probably is not what was meant (an include pattern that
    matches no file, a keyword that has no effect). The daemon logs these at start."""

    location: Location
    message: str

    def __str__(self) -> str:
        return f"{self.location}: warning: {self.message}"
