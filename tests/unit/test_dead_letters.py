"""A rejected record's DLQ copy always fits what the DLQ producer sends, however large its key."""

from __future__ import annotations

from streams.consume import fit_dead_letter

LIMIT = 1024


def test_a_record_within_the_limit_is_copied_whole() -> None:
    assert fit_dead_letter(b"k" * LIMIT, b"v" * LIMIT, LIMIT) == (b"k" * LIMIT, b"v" * LIMIT, "")
    assert fit_dead_letter(None, None, LIMIT) == (None, None, "")


def test_key_and_value_are_cut_alike_and_the_header_says_what_and_from_what_size() -> None:
    key, value, truncated = fit_dead_letter(b"k" * 3000, b"v" * 2000, LIMIT)
    assert (key, value) == (b"k" * LIMIT, b"v" * LIMIT)
    assert truncated == "key=3000,value=2000"


def test_an_oversized_key_alone_is_cut() -> None:
    # Before, only the value was cut: a key over the limit could never be dead-lettered, and the
    # loader stopped (exit 2) on every run.
    key, value, truncated = fit_dead_letter(b"k" * (2 * LIMIT), b"broken", LIMIT)
    assert (len(key or b""), value, truncated) == (LIMIT, b"broken", f"key={2 * LIMIT}")
