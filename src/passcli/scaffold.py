"""`passcli init`: the files of a new project, and its store."""

from __future__ import annotations

import os
import secrets
from importlib import resources
from pathlib import Path

from passcli.errors import UsageError

TEMPLATES = {
    "segments.yaml": "segments.yaml",
    "messages.yaml": "messages.yaml",
    "policy.yaml": "policy.yaml",
    ".env.example": "env.example",
}


def template_text(name: str) -> str:
    """A bundled template's text (works from a wheel, not only from a checkout)."""
    return resources.files("passcli.templates").joinpath(name).read_text(encoding="utf-8")


def init_project(
    directory: Path, *, force: bool = False, extra_env: dict[str, str] | None = None
) -> list[Path]:
    """Write the project files into `directory` (created if needed); returns what was written.

    Refuses to overwrite an existing file unless `force`. The `.env` gets a random
    PASSCLI_SECRET_KEY, which signs unsubscribe links.
    """
    directory.mkdir(parents=True, exist_ok=True)
    targets = [directory / name for name in (*TEMPLATES, ".env")]
    existing = [p.name for p in targets if p.exists()]
    if existing and not force:
        raise UsageError(
            f"{directory} already has {', '.join(existing)}; pass --force to overwrite"
        )
    for name, template in TEMPLATES.items():
        (directory / name).write_text(template_text(template), encoding="utf-8")
    env_lines = [
        "# Written by `passcli init`. Keep this file out of git: it holds the secret key.",
        f"PASSCLI_SECRET_KEY={secrets.token_urlsafe(32)}",
    ]
    env_lines += [f"{key}={value}" for key, value in (extra_env or {}).items()]
    env_file = directory / ".env"
    # Created private (0600), never readable by others even for a moment: it holds the key.
    env_file.unlink(missing_ok=True)
    fd = os.open(env_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write("\n".join(env_lines) + "\n")
    gitignore = directory / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(".env\npasscli.db\npasscli.db-*\noutbox/\n", encoding="utf-8")
    return [*targets, gitignore]
