"""What a job run reports: one line for ``arbot jobs run`` and the run's record, then
detail (a dry run's planned messages)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class JobReport:
    summary: str
    lines: tuple[str, ...] = ()

    def text(self) -> str:
        return "\n".join((self.summary, *self.lines))
