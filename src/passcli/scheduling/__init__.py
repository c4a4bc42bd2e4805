"""Scheduling: occurrences of schedules, run-due, the foreground scheduler."""
