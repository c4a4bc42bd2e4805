"""`python -m passcli`, used by end-to-end tests that need a real process."""

from passcli.cli.app import main

main()
