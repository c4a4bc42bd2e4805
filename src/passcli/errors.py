"""The one exception tree of passcli.

    PasscliError                      exit 1 unless a subclass says otherwise
    ├── UsageError                    exit 2: bad arguments, unknown names
    │   └── InvalidProjectError       exit 2: invalid YAML files; carries every Diagnostic
    ├── NotFoundError                 exit 1: an unknown customer id, ...
    ├── OfferRefused                  exit 1: a customer may not use an offer now (carries why)
    ├── StoreError                    exit 1: the store is unreachable or broken
    ├── ImportFailed                  exit 1: an import rejected rows (the report is attached)
    └── DeliveryError                 exit 1: a transport could not deliver
        ├── TransientDeliveryError    worth retrying (connection refused, SMTP 4xx, HTTP 429/5xx)
        ├── PermanentDeliveryError    fails that delivery only (SMTP 5xx, HTTP 4xx)
        └── UncertainDeliveryError    may have been delivered (a timeout after sending): never
                                      retried on its own; the delivery becomes `unknown`

Foreign errors (SQLAlchemy, smtplib, httpx) are translated where they enter passcli, with
`raise ... from exc`; only `passcli.cli.app` turns an error into a sentence and an exit code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from passcli.offers.usage import OfferCheck


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in a project file, located for `FILE:LINE:COLUMN: message`."""

    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class PasscliError(Exception):
    """Base of every error passcli raises on purpose."""

    exit_code = 1


class UsageError(PasscliError):
    """The command was called wrongly: bad arguments, an unknown name, a missing file."""

    exit_code = 2


class InvalidProjectError(UsageError):
    """One or more project files are invalid; `diagnostics` lists every problem."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        count = len(self.diagnostics)
        super().__init__(f"{count} problem{'s' if count != 1 else ''} in the project files")


class NotFoundError(PasscliError):
    """A record the user named (a customer id, ...) does not exist."""


class OfferRefused(PasscliError):
    """A customer may not use an offer now (disabled, not in its groups, too many attendees,
    or past its usage limit); nothing was recorded. `check` says why and what is left."""

    def __init__(self, check: OfferCheck) -> None:
        self.check = check
        super().__init__(check.message or f"offer {check.offer!r} refused")


class StoreError(PasscliError):
    """The store could not be reached, or a query against it failed."""


class ImportFailed(PasscliError):
    """An import finished but rejected at least one row."""


class DeliveryError(PasscliError):
    """A transport could not deliver a message."""


class TransientDeliveryError(DeliveryError):
    """A delivery failure worth retrying later."""


class PermanentDeliveryError(DeliveryError):
    """A delivery failure that retrying will not fix."""


class UncertainDeliveryError(DeliveryError):
    """The request may have reached the provider: resending could duplicate the message."""
