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
    valid: int = 0  # rows that passed the checks in a dry run without a table (not compared)
    rejections: list[tuple[int, str]] = field(default_factory=list)  # (line, reason), in line order
    dry_run: bool = False
    compared: bool = True  # False: a dry run without a table, the rows were only checked

    @property
    def rows(self) -> int:
        return self.created + self.updated + self.unchanged + self.valid + self.rejected

    def counts(self) -> str:
        if not self.compared:
            return f"valid={self.valid} rejected={self.rejected}"
        return f"created={self.created} updated={self.updated} unchanged={self.unchanged} rejected={self.rejected}"

    def summary(self) -> str:
        if not self.compared:
            return self.counts() + " (dry run without a table: rows checked only, not compared with existing users)"
        return self.counts() + (" (dry run: nothing written)" if self.dry_run else "")

    def closing_note(self) -> str | None:
        """A plain sentence for a run with rejected rows: it did its job for the other rows."""
        if not self.rejected:
            return None
        others = self.rows - self.rejected
        rows = _rows(self.rejected)
        if not self.compared:
            return (
                f"{rows} {_be(self.rejected, 'is', 'are')} invalid (listed above); "
                f"{_others(others, 'valid', 'is', 'are')}. The file was not compared with existing users."
            )
        if self.dry_run:
            return (
                f"{rows} would be rejected (listed above); {_others(others, 'imported', 'would be', 'would be')}. "
                "Nothing was written (dry run)."
            )
        return (
            f"{rows} {_be(self.rejected, 'was', 'were')} rejected (listed above); "
            f"{_others(others, 'imported', 'was', 'were')}. Fix {_be(self.rejected, 'it', 'them')} and run the "
            "same file again: rows already imported stay unchanged."
        )

    @property
    def exit_code(self) -> int:
        return 2 if self.rejected else 0

    def count(self, outcome: str) -> None:
        """One more row "created", "updated", "unchanged" or (checked only) "valid"."""
        setattr(self, outcome, getattr(self, outcome) + 1)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        self.rejections.append((line, reason))


def _rows(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def _be(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def _others(n: int, what: str, one: str, many: str) -> str:
    if n == 0:
        return f"no other row {one} {what}"
    if n == 1:
        return f"the other row {one} {what}"
    return f"the other {n} rows {many} {what}"
