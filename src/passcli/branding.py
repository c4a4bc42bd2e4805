"""The settings that templates see, as one small value (no heavy imports: the CLI builds it
before it knows whether anything will be rendered)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Branding:
    org_name: str
    dashboard_url: str
    unsubscribe_url: str
    secret_key: str | None
