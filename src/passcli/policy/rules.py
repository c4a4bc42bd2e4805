"""The sending policy as the delivery pipeline applies it: caps and the quiet-hours clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import tzinfo
from typing import TYPE_CHECKING

from passcli.policy.caps import Caps
from passcli.policy.quiet import QuietClock

if TYPE_CHECKING:
    from passcli.project import Project


@dataclass(frozen=True)
class SendRules:
    """What may stop or hold a send: frequency caps, quiet hours (None: none)."""

    caps: Caps = field(default_factory=Caps)
    quiet: QuietClock | None = None

    @classmethod
    def of(cls, project: Project, tz: tzinfo) -> SendRules:
        """The project's policy.yaml; `tz` is the zone of customers without one."""
        policy = project.policy
        quiet = QuietClock(policy.quiet_hours, tz) if policy.quiet_hours is not None else None
        return cls(Caps.of(policy, project.messages), quiet)
