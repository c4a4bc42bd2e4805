"""`passcli scheduler` as a real process: it runs run-due, and SIGTERM stops it cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from passcli.scaffold import init_project

pytestmark = pytest.mark.slow


def test_the_scheduler_runs_run_due_and_stops_cleanly_on_sigterm(
    tmp_path: Path, database_url: str
) -> None:
    project = tmp_path / "project"
    init_project(project)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PASSCLI_")},
        "PASSCLI_PROJECT_DIR": str(project),
        "PASSCLI_DATABASE_URL": database_url,
    }
    with subprocess.Popen(
        [sys.executable, "-m", "passcli", "scheduler", "--interval", "1"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    ) as child:
        try:
            assert child.stderr is not None
            lines = []
            for _ in range(10):  # the banner, then one line per run
                line = child.stderr.readline()
                lines.append(line)
                if line.startswith("run-due at"):
                    break
            assert any(line.startswith("run-due at") for line in lines), lines
            child.send_signal(signal.SIGTERM)
            assert child.wait(timeout=20) == 0
        finally:
            if child.poll() is None:  # never leave a scheduler running behind a failure
                child.kill()
