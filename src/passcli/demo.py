"""`passcli demo`: a project built from the bundled example data, at its reference instant."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from passcli import sampledata
from passcli.importing.load import import_file
from passcli.importing.report import ImportReport
from passcli.scaffold import init_project, template_text
from passcli.settings import load_settings
from passcli.store import open_store

DEMO_ENV = {
    "PASSCLI_TIMEZONE": sampledata.TIMEZONE,
    "PASSCLI_ORG_NAME": "Mile High Explorer Pass",
    "PASSCLI_NOW": sampledata.REFERENCE_NOW.isoformat(),
}
# The demo's example customer: a planted persona with a pass, check-ins and orders.
SHOWCASE_CUSTOMER = "c0000001"
SHOWCASE_SEGMENT = "new-signups"


@dataclass(frozen=True)
class Demo:
    directory: Path
    reports: list[ImportReport]


def build_demo(directory: Path) -> Demo:
    """Init a project in `directory`, write the example data under data/ and import it.

    The project's .env pins PASSCLI_NOW to the examples' reference instant, so every command
    run in it shows the same thing on any day.
    """
    init_project(directory, extra_env=DEMO_ENV)
    # The example program's groups, keywords and offers (optional in a project: SPEC §1).
    (directory / "groups.yaml").write_text(template_text("groups.yaml"), encoding="utf-8")
    data = directory / "data"
    sampledata.generate(data)
    settings = load_settings(directory)
    engine = open_store(settings.store_url)
    now = settings.pinned_now()
    assert now is not None
    reports = [
        import_file(
            engine,
            name.split(".")[0],
            data / name,
            tz=settings.tz,
            region=settings.default_region,
            now=now,
        )
        for name in sampledata.FILES
    ]
    engine.dispose()
    return Demo(directory=directory, reports=reports)
