"""Scenario 7: the contract evolves. An added optional attribute (or envelope field) loads and is
kept verbatim; an event missing a required attribute or field is quarantined, saying which."""

from __future__ import annotations

import json

from journeys_core.settings import KafkaSettings, LoaderSettings
from tests.events import encode, event
from tests.helpers import load, publish, query
from tests.reliability.ledger import assert_exact, take


def _without(body: dict[str, object], field: str, *, attribute: bool = False) -> dict[str, object]:
    if attribute:
        attributes = dict(body["attributes"])  # type: ignore[call-overload]
        del attributes[field]
        return {**body, "attributes": attributes}
    return {key: value for key, value in body.items() if key != field}


def test_added_optional_attributes_load_and_removed_required_ones_are_quarantined(
    kafka: KafkaSettings, loader_settings: LoaderSettings, duckdb_url: str
) -> None:
    order = event("sales.order_placed", order_id="O-7")
    added = {
        "attribute": event(
            "sales.order_placed",
            order_id="O-8",
            attributes={**order["attributes"], "gift_wrap": True},  # type: ignore[dict-item]
        ),
        "envelope field": event("shipping.delivered", order_id="O-7", campaign="autumn"),
    }
    removed = {
        "currency": _without(order, "currency", attribute=True),
        "source": _without(event("support.ticket_opened", order_id="O-7"), "source"),
    }
    records = [("sales", b"O-7", encode(order))]
    records += [(str(body["event_type"]).split(".")[0], b"O-8", encode(body)) for body in added.values()]
    records += [(str(body["event_type"]).split(".")[0], b"O-9", encode(body)) for body in removed.values()]
    publish(kafka, records)
    stats = load(kafka, loader_settings, duckdb_url)
    assert (stats.loaded, stats.quarantined) == (3, 2)

    [(attributes,)] = query(
        duckdb_url,
        f"select attributes from raw.touchpoints where event_id = '{added['attribute']['event_id']}'",
    )
    assert json.loads(attributes)["gift_wrap"] is True  # kept for the next contract version to use
    reasons = sorted(str(reason) for (reason,) in query(duckdb_url, "select reason from raw.quarantine"))
    assert reasons == [
        "does not match the event envelope: object missing required field source",
        "sales.order_placed attributes invalid: attributes: object missing required field currency",
    ]
    ledger = take(
        "schema evolution",
        duckdb_url,
        produced=len(records),
        event_ids={str(body["event_id"]) for body in (order, *added.values())},
        rejected=len(removed),
    )
    assert_exact(ledger)
