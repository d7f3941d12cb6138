"""What the loader says when it had to create its department topics."""

from __future__ import annotations

from journeys_core.settings import KafkaSettings
from streams.topics import created_topics_note, department_prefixes


def test_prefixes_need_every_department() -> None:
    topics = [
        "touchpoints.sales",
        "touchpoints.shipping",
        "touchpoints.support",
        "touchpoints.dlq",
        "other.sales",  # one department only: not a prefix the loader could use
        "__consumer_offsets",
    ]
    assert department_prefixes(topics) == ["touchpoints"]


def test_a_typo_names_the_prefixes_that_exist() -> None:
    kafka = KafkaSettings(topic_prefix="touchpointz")
    created = ["touchpointz.sales", "touchpointz.shipping", "touchpointz.support", "touchpointz.dlq"]
    note = created_topics_note(kafka, created, ["orders", "touchpoints", "touchpointz"])
    assert note is not None and note.suspicious
    assert "topics touchpointz.sales, touchpointz.shipping, touchpointz.support did not exist" in note.message
    assert "JOURNEYS_KAFKA_TOPIC_PREFIX (now 'touchpointz')" in note.message
    assert note.message.endswith("department topics under: touchpoints, orders")  # closest first


def test_a_first_start_says_only_what_was_created() -> None:
    kafka = KafkaSettings(topic_prefix="touchpoints")
    note = created_topics_note(kafka, ["touchpoints.sales"], ["touchpoints"])
    assert note is not None and not note.suspicious  # a fresh broker before its first producer
    assert note.message == (
        "topic touchpoints.sales did not exist, so it was created empty: nothing was published there yet"
    )


def test_nothing_to_say_when_only_the_dlq_was_created() -> None:
    kafka = KafkaSettings(topic_prefix="touchpoints")
    assert created_topics_note(kafka, ["touchpoints.dlq"], ["touchpoints"]) is None


def test_long_lists_are_cut() -> None:
    kafka = KafkaSettings(topic_prefix="x")
    prefixes = [f"p{i}" for i in range(7)] + ["x2"]
    note = created_topics_note(kafka, ["x.sales"], prefixes)
    assert note is not None and note.message.endswith("x2, p0, p1, p2, p3 and 3 more")
