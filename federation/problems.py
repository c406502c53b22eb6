"""A problem found in user input: where it is, what is wrong, and what to change."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # like services[0].routing.failover[1]; "" for the whole document
    message: str
    hint: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"path": self.path, "message": self.message, "hint": self.hint}

    def __str__(self) -> str:
        where = self.path or "(document)"
        return f"{where}: {self.message}" + (f" (hint: {self.hint})" if self.hint else "")


class InvalidInputError(Exception):
    """Input that failed validation; carries every problem found, not just the first."""

    def __init__(self, problems: list[Problem], source: str = "") -> None:
        self.problems = problems
        self.source = source
        first = str(problems[0]) if problems else "invalid input"
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"{source + ': ' if source else ''}{first}{more}")


def join_path(parts: tuple[str | int, ...]) -> str:
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
