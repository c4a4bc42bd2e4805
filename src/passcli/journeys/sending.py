"""A journey's send step for a batch of customers, through the ordinary delivery pipeline.

The customers are given explicitly (not the message's segments); the message's exclude,
schedule and once_per_customer do not apply, its channel, consent, unsubscribes and
rendering do (SPEC §7). The ledger's send key names the journey, the step and the entry
number, and the recipient is the customer id, so the unique (send_key, recipient) of
`deliveries` makes the step happen at most once per customer and entry, whatever runs at
once or crashes. Each customer's outcome comes back for the step's history: the ledger's
status once delivered, or the skip reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo

from sqlalchemy import Engine, select

from passcli.branding import Branding
from passcli.delivery.courier import Courier
from passcli.delivery.ledger import SendKey
from passcli.delivery.queue import Content, Planned, plan
from passcli.delivery.report import SendReport
from passcli.delivery.transports import Sleep, Transports
from passcli.messages.audience import candidates_query, decide, valid_address
from passcli.messages.compose import MessageTemplates, template_variables
from passcli.messages.render import RenderError
from passcli.messages.spec import MessageSpec
from passcli.segments.compile import ID
from passcli.store.engine import read_transaction, write_transaction
from passcli.store.schema import customers, deliveries, items


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
    branding: Branding
    transports: Transports
    tz: tzinfo
    sleep: Sleep
    run_id: str

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
        send = SendKey(key=key, kind="journey", message=message, occurrence=f"{journey}/{step}")
        own = spec.model_copy(update={"once_per_customer": False, "schedule": None})
        report = SendReport(message, now, f"{journey}/{step}", False)
        outcomes: dict[str, StepOutcome] = {}
        members = select(customers.c.id.label(ID)).where(customers.c.id.in_(list(customer_ids)))
        query = candidates_query(members, message, own, key, now)
        templates = MessageTemplates(own)
        pass_name = self._pass_name(own)
        ready: list[Planned] = []
        in_ledger: list[str] = []
        with read_transaction(self.engine) as conn:
            rows = conn.execute(query).all()  # one claimed batch of a journey: bounded
        for row in rows:
            report.audience += 1
            decision = decide(row, own)
            if decision.channel is None:
                if decision.reason == "already_sent":
                    in_ledger.append(row.id)  # this very step reached them before a crash
                else:
                    outcomes[row.id] = StepOutcome("skipped", decision.reason)
                    report.skipped[decision.reason or "unknown"] += 1
                continue
            try:
                variables = template_variables(
                    row, decision.channel, self.branding, key, pass_name, now, self.tz
                )
                rendered = templates.render(decision.channel, variables)
            except RenderError:
                outcomes[row.id] = StepOutcome("skipped", "render_error")
                report.skipped["render_error"] += 1
                continue
            address = row.email if decision.channel == "email" else row.phone
            if not valid_address(decision.channel, address):
                outcomes[row.id] = StepOutcome("skipped", "invalid_address")
                report.skipped["invalid_address"] += 1
                continue
            one_click = (
                variables["unsubscribeLink"]
                if decision.channel == "email" and self.branding.secret_key
                else None
            )
            content = Content(rendered.body, rendered.subject, rendered.html, one_click)
            ready.append(Planned(row.id, row.id, decision.channel, address, content))
        if ready:
            with write_transaction(self.engine) as conn:
                plan(conn, send, ready, now)
        courier = Courier(self.engine, self.branding, self.transports, self.sleep, self.run_id, now)
        courier.drain(key, report)
        asked = [item.recipient for item in ready] + in_ledger
        if asked:
            with read_transaction(self.engine) as conn:
                for recipient, status in conn.execute(
                    select(deliveries.c.recipient, deliveries.c.status).where(
                        deliveries.c.send_key == key, deliveries.c.recipient.in_(asked)
                    )
                ):
                    outcomes[recipient] = StepOutcome(_outcome(status))
        return outcomes, report

    def _pass_name(self, spec: MessageSpec) -> str | None:
        if spec.pass_ is None:
            return None
        with read_transaction(self.engine) as conn:
            name = conn.execute(select(items.c.name).where(items.c.id == spec.pass_)).scalar()
        return str(name) if name is not None else spec.pass_


def _outcome(status: str) -> str:
    """The step's outcome from its delivery's status: a delivery another run still holds
    (pending, queued, sending) is under way, and counts as sent unless it fails."""
    if status in ("failed", "unknown"):
        return str(status)
    return "sent"
