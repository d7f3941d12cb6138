"""Event contract v1: the shape every touchpoint must have, and the one decoder that enforces it.

The msgspec structs below are the machine-readable contract; `streams/schemas/v1/touchpoint.schema.json`
is generated from them (`python -m streams.contract`) so non-Python producers can validate too.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

SCHEMA_VERSION: Final = 1
SCHEMA_PATH: Final = Path(__file__).parent / "schemas" / "v1" / "touchpoint.schema.json"
DEPARTMENTS: Final = ("sales", "shipping", "support")

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
# An identifier must have something besides white space, or it cannot be stitched.
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=512, pattern=r"\S")]
Amount = Annotated[float, msgspec.Meta(ge=0)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
Timestamp = Annotated[dt.datetime, msgspec.Meta(tz=True)]
# Checked as a pattern in msgspec's C code: building uuid.UUID objects cost more than the rest.
EventId = Annotated[
    str, msgspec.Meta(pattern="^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
]


class Customer(msgspec.Struct, forbid_unknown_fields=False):
    """How the emitting department knows the customer; at least one field is required."""

    customer_id: Identifier | None = None
    email: Identifier | None = None
    phone: Identifier | None = None


class Envelope(msgspec.Struct, forbid_unknown_fields=False):
    """Fields common to every event; `attributes` is validated per event type."""

    event_id: EventId
    event_type: NonEmpty
    schema_version: int
    occurred_at: Timestamp
    source: NonEmpty
    customer: Customer
    attributes: msgspec.Raw
    order_id: NonEmpty | None = None


# Attribute structs: one per event type. Unknown extra attributes are allowed (additive changes).
class _Attrs(msgspec.Struct, forbid_unknown_fields=False):
    pass


class LeadCreated(_Attrs):
    channel: NonEmpty


class QuoteSent(_Attrs):
    amount: Amount
    currency: Currency


class OrderPlaced(_Attrs):
    amount: Amount
    currency: Currency
    items: Annotated[int, msgspec.Meta(ge=1)]
    channel: NonEmpty
    promised_delivery_date: dt.date


class PaymentCaptured(_Attrs):
    amount: Amount
    currency: Currency


class OrderCancelled(_Attrs):
    reason: NonEmpty


class RefundIssued(_Attrs):
    amount: Amount
    currency: Currency
    reason: NonEmpty


class ShipmentCreated(_Attrs):
    carrier: NonEmpty
    warehouse: NonEmpty


class ShipmentDispatched(_Attrs):
    carrier: NonEmpty
    tracking_id: NonEmpty


class DeliveryAttempted(_Attrs):
    outcome: Literal["failed_no_one_home", "failed_address", "failed_other"]


class Delivered(_Attrs):
    damaged: bool


class ReturnReceived(_Attrs):
    reason: NonEmpty


class TicketOpened(_Attrs):
    ticket_id: NonEmpty
    channel: NonEmpty
    category: Literal["delivery", "damaged", "billing", "refund", "product", "account", "other"]


class TicketRef(_Attrs):
    ticket_id: NonEmpty


class TicketEscalated(_Attrs):
    ticket_id: NonEmpty
    to_department: Literal["sales", "shipping", "support"]


class CsatSubmitted(_Attrs):
    score: Annotated[int, msgspec.Meta(ge=1, le=5)]
    ticket_id: NonEmpty | None = None


class CheckIn(_Attrs):
    channel: NonEmpty


ATTRIBUTES: Final[dict[str, type[_Attrs]]] = {
    "sales.lead_created": LeadCreated,
    "sales.quote_sent": QuoteSent,
    "sales.order_placed": OrderPlaced,
    "sales.payment_captured": PaymentCaptured,
    "sales.order_cancelled": OrderCancelled,
    "sales.refund_issued": RefundIssued,
    "shipping.shipment_created": ShipmentCreated,
    "shipping.shipment_dispatched": ShipmentDispatched,
    "shipping.delivery_attempted": DeliveryAttempted,
    "shipping.delivered": Delivered,
    "shipping.return_received": ReturnReceived,
    "support.ticket_opened": TicketOpened,
    "support.agent_replied": TicketRef,
    "support.ticket_escalated": TicketEscalated,
    "support.ticket_resolved": TicketRef,
    "support.ticket_reopened": TicketRef,
    "support.csat_submitted": CsatSubmitted,
    **{f"{department}.check_in": CheckIn for department in DEPARTMENTS},
}
EVENT_TYPES: Final = tuple(sorted(ATTRIBUTES))

_ENVELOPE = msgspec.json.Decoder(Envelope)
_ATTRIBUTE_DECODERS = {name: msgspec.json.Decoder(cls) for name, cls in ATTRIBUTES.items()}


class Touchpoint(msgspec.Struct, frozen=True):
    """A valid event, typed; `attributes` keeps the original JSON so additive fields survive."""

    event_id: str
    event_type: str
    department: str
    schema_version: int
    occurred_at: dt.datetime
    source: str
    customer_id: str | None
    email: str | None
    phone: str | None
    order_id: str | None
    attributes: bytes


class Rejection(msgspec.Struct, frozen=True):
    """Why an event was refused, in words a person can act on."""

    reason: str
    event_id: str | None = None
    event_type: str | None = None


def _readable(error: Exception, prefix: str = "") -> str:
    """msgspec says "Expected `int`, got `str` - at `$.items`"; say it as "items: expected int, got str"."""
    text = str(error).replace("`", "")
    message, sep, where = text.partition(" - at ")
    path = where.removeprefix("$").lstrip(".") if sep else ""
    field = ".".join(part for part in (prefix, path) if part)
    if message[1:2].islower():
        message = message[:1].lower() + message[1:]
    return f"{field}: {message}" if field else message


def decode(
    raw: bytes | None,
    *,
    max_bytes: int = 1024 * 1024,
    max_future: dt.timedelta = dt.timedelta(days=1),
    now: dt.datetime | None = None,
) -> Touchpoint | Rejection:
    """Turn the bytes of one Kafka record into a typed touchpoint or a readable rejection."""
    if raw is None:
        return Rejection("empty record: the value is null, expected one JSON object")
    if len(raw) > max_bytes:
        return Rejection(f"payload is {len(raw):,} bytes; the limit is {max_bytes:,} bytes")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection(f"not UTF-8: invalid byte at position {error.start}")
    if b"\\u0000" in raw:
        # PostgreSQL text and jsonb cannot hold NUL; refuse it for every warehouse alike.
        return Rejection("contains a NUL character (\\u0000), which warehouses cannot store")
    try:
        envelope = _ENVELOPE.decode(raw)
    except msgspec.ValidationError as error:
        return Rejection(f"does not match the event envelope: {_readable(error)}")
    except msgspec.DecodeError as error:
        return Rejection(f"not valid JSON: {_readable(error)}")

    event_id, event_type = envelope.event_id.lower(), envelope.event_type
    attributes = _ATTRIBUTE_DECODERS.get(event_type)
    if attributes is None:
        return Rejection(
            f"unknown event_type {event_type!r}; expected one of the contract v1 types "
            "such as sales.order_placed",
            event_id,
            event_type,
        )
    if envelope.schema_version != SCHEMA_VERSION:
        return Rejection(
            f"unsupported schema_version {envelope.schema_version}; this loader reads version "
            f"{SCHEMA_VERSION}",
            event_id,
            event_type,
        )
    customer = envelope.customer
    if customer.customer_id is None and customer.email is None and customer.phone is None:
        return Rejection(
            "customer has no identifier: give at least one of customer_id, email, phone",
            event_id,
            event_type,
        )
    limit = (now or dt.datetime.now(dt.UTC)) + max_future
    if envelope.occurred_at > limit:
        return Rejection(
            f"occurred_at {envelope.occurred_at.isoformat()} is in the future "
            f"(later than {limit.isoformat(timespec='seconds')})",
            event_id,
            event_type,
        )
    try:
        attributes.decode(envelope.attributes)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return Rejection(
            f"{event_type} attributes invalid: {_readable(error, 'attributes')}",
            event_id,
            event_type,
        )
    return Touchpoint(
        event_id=event_id,
        event_type=event_type,
        department=event_type.partition(".")[0],
        schema_version=envelope.schema_version,
        occurred_at=envelope.occurred_at,
        source=envelope.source,
        customer_id=customer.customer_id,
        email=customer.email,
        phone=customer.phone,
        order_id=envelope.order_id,
        attributes=bytes(envelope.attributes),
    )


def json_schema() -> dict[str, Any]:
    """The contract as JSON Schema (2020-12): the envelope, plus the attributes each type requires."""
    envelope_schema = msgspec.json.schema(Envelope)
    definitions: dict[str, Any] = dict(envelope_schema.pop("$defs", {}))
    envelope = definitions.pop("Envelope")
    envelope["properties"]["attributes"] = {"type": "object"}
    envelope["properties"]["event_type"] = {"enum": list(EVENT_TYPES)}
    envelope["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    definitions["Customer"]["anyOf"] = [{"required": [field]} for field in ("customer_id", "email", "phone")]
    rules = []
    for name, cls in sorted(ATTRIBUTES.items()):
        schema = msgspec.json.schema(cls)
        definitions.update(schema.get("$defs", {}))
        rules.append(
            {
                "if": {"properties": {"event_type": {"const": name}}},
                "then": {"properties": {"attributes": {"$ref": schema["$ref"]}}},
            }
        )
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "journeys/touchpoint/v1",
        "title": "Journeys touchpoint event, contract v1",
        **envelope,
        "allOf": rules,
        "$defs": definitions,
    }


def render_json_schema() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    SCHEMA_PATH.parent.mkdir(parents=True, exist_ok=True)
    SCHEMA_PATH.write_text(render_json_schema(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_PATH}\n")
