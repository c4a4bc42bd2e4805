"""A journey's send step for a batch of customers, through the ordinary delivery pipeline.

The customers are given explicitly (the Dispatcher's `members=`, not the message's segments);
the message's exclude, schedule and once_per_customer do not apply, its channel, consent,
unsubscribes and rendering do (SPEC §7). The ledger's send key names the journey, the step
and the entry number, and the recipient is the customer id, so the unique (send_key,
recipient) of `deliveries` makes the step happen at most once per customer and entry,
whatever runs at once or crashes. Each customer's outcome comes back for the step's history:
the ledger's status once delivered, or the skip reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, tzinfo

from sqlalchemy import Engine, select

from passcli.branding import Branding
from passcli.delivery.dispatch import Dispatcher, Occurrence
from passcli.delivery.ledger import SendKey
from passcli.delivery.report import SendReport
from passcli.delivery.transports import Sleep, Transports
from passcli.messages.spec import MessageSpec
from passcli.policy.rules import SendRules
from passcli.segments.compile import ID, SegmentCompiler
from passcli.segments.spec import GroupRef, SegmentSpec
from passcli.store.engine import read_transaction
from passcli.store.schema import customers, deliveries


def send_key(journey: str, step: str, number: int) -> str:
    """The ledger key of one step of one entry number: `journey:NAME:STEP:N`."""
    return f"journey:{journey}:{step}:{number}"


@dataclass(frozen=True)
class StepOutcome:
    outcome: str  # sent | failed | unknown | skipped
    reason: str | None = None  # the skip reason


@dataclass
class StepSender:
    engine: Engine
    segments: dict[str, SegmentSpec]
    branding: Branding
    transports: Transports
    tz: tzinfo
    sleep: Sleep
    run_id: str
    rules: SendRules = field(default_factory=SendRules)

    def send(
        self,
        journey: str,
        step: str,
        number: int,
        message: str,
        spec: MessageSpec,
        customer_ids: Sequence[str],
        now: datetime,
    ) -> tuple[dict[str, StepOutcome], SendReport]:
        key = send_key(journey, step, number)
        label = f"{journey}/{step}"
        send = SendKey(key=key, kind="journey", message=message, occurrence=label)
        own = spec.model_copy(update={"once_per_customer": False, "schedule": None})
        members = select(customers.c.id.label(ID)).where(customers.c.id.in_(list(customer_ids)))
        outcomes: dict[str, StepOutcome] = {}
        in_ledger: list[str] = []
        if spec.subscription_group is not None:
            # Only the group's members receive it (SPEC §8): the others skip this step.
            compiler = SegmentCompiler(self.segments, now, self.tz)
            in_group = compiler.compile(GroupRef(spec.subscription_group)).test(customers.c.id)
            members = members.where(in_group)
            with read_transaction(self.engine) as conn:
                subscribed = set(conn.execute(members).scalars())
            for customer_id in customer_ids:
                if customer_id not in subscribed:
                    outcomes[customer_id] = StepOutcome("skipped", "not_subscribed")

        def told(customer_id: str, reason: str | None) -> None:
            # already_sent: this very step reached them before a crash; the ledger says how
            if reason is None or reason == "already_sent":
                in_ledger.append(customer_id)
            else:
                outcomes[customer_id] = StepOutcome("skipped", reason)

        dispatcher = Dispatcher(
            self.engine, self.segments, self.branding, self.transports, self.tz, self.sleep,
            self.run_id, rules=self.rules,
        )  # fmt: skip
        report = dispatcher.deliver(
            message, own, Occurrence(send, label), now, members=members, outcome=told
        )
        if in_ledger:
            with read_transaction(self.engine) as conn:
                for recipient, status in conn.execute(
                    select(deliveries.c.recipient, deliveries.c.status).where(
                        deliveries.c.send_key == key, deliveries.c.recipient.in_(in_ledger)
                    )
                ):
                    outcomes[recipient] = StepOutcome(_outcome(status))
        return outcomes, report


def _outcome(status: str) -> str:
    """The step's outcome from its delivery's status: a delivery another run still holds
    (pending, queued, sending) is under way, and counts as sent unless it fails."""
    if status in ("failed", "unknown"):
        return str(status)
    return "sent"
