"""The one error the quality gates raise for problems a person can fix."""

from __future__ import annotations


class QualityError(Exception):
    """The gates cannot run (no tables yet, a bad setting); the message says what to do."""
