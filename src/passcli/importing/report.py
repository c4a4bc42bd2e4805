"""What an import did: counts and rejected rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Rejections kept for the report; beyond this only the count grows (memory stays flat).
MAX_KEPT_REJECTIONS = 10_000


@dataclass(frozen=True, slots=True)
class Rejection:
    line: int
    reason: str


@dataclass
class ImportReport:
    kind: str
    file: str
    strict: bool = False
    inserted: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    loaded: bool = True
    rejections: list[Rejection] = field(default_factory=list)
    # bounces only: rows per type, customers made unreachable, and the rows whose email no
    # customer has (not errors: listed, kept up to MAX_KEPT_REJECTIONS)
    bounces: dict[str, int] = field(default_factory=dict)
    unmatched: list[tuple[int, str]] = field(default_factory=list)

    def reject(self, line: int, reason: str) -> None:
        self.rejected += 1
        if len(self.rejections) < MAX_KEPT_REJECTIONS:
            self.rejections.append(Rejection(line, reason))

    def count(self, inserted: int = 0, updated: int = 0, skipped: int = 0) -> None:
        self.inserted += inserted
        self.updated += updated
        self.skipped += skipped

    @property
    def summary(self) -> str:
        text = (
            f"{self.file}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.skipped} skipped, {self.rejected} rejected"
        )
        if self.kind == "bounces":
            b = self.bounces
            text += (
                f"; hard {b.get('hard', 0)}, soft {b.get('soft', 0)}, "
                f"complaint {b.get('complaint', 0)}; {b.get('unreachable', 0)} customers "
                f"now unreachable by email; {b.get('no_customer', 0)} emails match no customer"
            )
        if not self.loaded:
            text += " (--strict: nothing was loaded)"
        return text

    def note_unmatched(self, line: int, email: str) -> None:
        self.bounces["no_customer"] = self.bounces.get("no_customer", 0) + 1
        if len(self.unmatched) < MAX_KEPT_REJECTIONS:
            self.unmatched.append((line, email))

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "file": self.file,
            "strict": self.strict,
            "loaded": self.loaded,
            "inserted": self.inserted,
            "updated": self.updated,
            "skipped": self.skipped,
            "rejected": self.rejected,
            "rejections": [{"line": r.line, "reason": r.reason} for r in self.rejections],
            **(
                {
                    "bounces": {
                        key: self.bounces.get(key, 0)
                        for key in ("hard", "soft", "complaint", "unreachable", "no_customer")
                    },
                    "unmatched": [{"line": line, "email": e} for line, e in self.unmatched],
                }
                if self.kind == "bounces"
                else {}
            ),
        }
