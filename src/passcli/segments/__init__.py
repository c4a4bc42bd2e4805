"""Segments: YAML specs, validation, compilation to one SQL query each, evaluation."""
