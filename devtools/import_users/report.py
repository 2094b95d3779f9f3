"""What a run tells its operator: the counts (ImportReport) or a fatal error (ImportFailed)."""

from __future__ import annotations

from dataclasses import dataclass, field


class ImportFailed(Exception):
    """A fatal problem: the run stops (exit code 1)."""


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), in line order
    dry_run: bool = False

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + self.rejected

    def counts(self) -> str:
        return f"created={self.created} updated={self.updated} unchanged={self.unchanged} rejected={self.rejected}"

    def summary(self) -> str:
        return self.counts() + (" (dry run: nothing written)" if self.dry_run else "")

    @property
    def exit_code(self) -> int:
        return 2 if self.rejected else 0

    def count(self, outcome: str) -> None:
        """One more row "created", "updated" or "unchanged"."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        self.rejections.append((line, reason))
