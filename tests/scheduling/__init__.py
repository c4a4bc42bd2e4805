"""Tests of passcli.scheduling: schedules, run-due, safety under concurrency and crashes."""
