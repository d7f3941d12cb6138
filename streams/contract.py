"""Event contract v1: the shape every touchpoint must have, and the one decoder that enforces it.

The msgspec structs below are the machine-readable contract; `streams/schemas/v1/touchpoint.schema.json`
is generated from them (`python -m streams.contract`) so non-Python producers can validate too.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import re
import sys
import unicodedata
from pathlib import Path
from typing import Annotated, Any, Final, Literal

import msgspec

SCHEMA_VERSION: Final = 1
SCHEMA_PATH: Final = Path(__file__).parent / "schemas" / "v1" / "touchpoint.schema.json"
DEPARTMENTS: Final = ("sales", "shipping", "support")

# Limits that keep whatever the contract accepts storable in both warehouses and buildable by dbt
# (docs/security.md, "Hostile input"). The column limits are the warehouse's, not plausibility:
# an odd but storable value is for the quality gates to question, not for the loader to refuse.
MAX_DEPTH: Final = 32  # objects and arrays inside each other, the envelope counting as 1
MAX_AMOUNT: Final = 9_999_999_999.99  # dbt casts amounts to numeric(12, 2)
MAX_ITEMS: Final = 2**31 - 1  # and items to integer (32 bits)
EARLIEST: Final = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
PROMISE_HORIZON_DAYS: Final = 3653  # a promised delivery date at most ten years after the order
# PostgreSQL's numeric (and so jsonb) cannot hold every number JSON can write (1e-20000, 20,000
# decimals): a number may have this many digits before and after its point (4,300 is also the
# most Python and msgspec read as an integer), and an exponent within +-1,000.
MAX_NUMBER_DIGITS: Final = 4300
MAX_NUMBER_EXPONENT: Final = 1000

NonEmpty = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
# An identifier must have something besides white space, or it cannot be stitched.
Identifier = Annotated[str, msgspec.Meta(min_length=1, max_length=512, pattern=r"\S")]
Amount = Annotated[float, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
Items = Annotated[int, msgspec.Meta(ge=1, le=MAX_ITEMS)]
Score = Annotated[int, msgspec.Meta(ge=1, le=5)]
Currency = Annotated[str, msgspec.Meta(pattern="^[A-Z]{3}$")]
# RFC 3339's offsets: Z or +01:00. msgspec also reads +0100, which is ISO 8601 but not RFC 3339.
RFC3339_OFFSET: Final = "(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
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
    occurred_at: str  # parsed in `decode`, which must see how the offset was written
    source: NonEmpty
    customer: Customer
    attributes: msgspec.Raw
    order_id: NonEmpty | None = None


class TypedAttributes(msgspec.Struct, forbid_unknown_fields=False):
    """Attributes dbt casts to a type in every event of a department, so they must have that type
    (or be null) wherever they appear: an added `items` on a sales.check_in is cast too."""

    amount: Amount | None = None
    items: Items | None = None
    promised_delivery_date: dt.date | None = None
    damaged: bool | None = None
    score: Score | None = None


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
    items: Items
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
    score: Score
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


def _with_typed_attributes(cls: type[_Attrs]) -> type[msgspec.Struct]:
    """`cls` plus, as optional fields, the typed attributes it does not declare: one decode checks
    both. The declared order of `cls` stays as it was (the simulator draws from it)."""
    own = {field.name for field in msgspec.structs.fields(cls)}
    extra = [
        (field.name, field.type, field.default)
        for field in msgspec.structs.fields(TypedAttributes)
        if field.name not in own
    ]
    return msgspec.defstruct(cls.__name__, extra, bases=(cls,), forbid_unknown_fields=False)


_ATTRIBUTE_DECODERS: Final[dict[str, msgspec.json.Decoder[Any]]] = {
    name: msgspec.json.Decoder(_with_typed_attributes(cls)) for name, cls in ATTRIBUTES.items()
}


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
    if len(message) > 200:  # msgspec quotes the value: "invalid enum value 'xxx...'" can be 1 MiB long
        message = message[:199] + "…"
    return f"{field}: {message}" if field else message


# -- hostile input: checks on the raw bytes, cheap screens first ------------------------------------

_BRACKETS: Final = bytes.maketrans(b"{[}]", b"\x01\x01\xff\xff")
_NOT_BRACKETS: Final = bytes(byte for byte in range(256) if byte not in b"{[}]")
# A string, its closing quote optional: an unterminated one runs to the end instead of being tried
# again from each quote inside it, which would take quadratic time.
_STRING: Final = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"?', re.DOTALL)
_ASCII_DIGIT: Final = re.compile(r"[0-9]")
_EARLIEST_DAY: Final = EARLIEST.toordinal()


def too_deep(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """Whether objects and arrays nest more than `limit` deep, found without recursion (linear time).

    Decoders recurse once per level, so a thousand levels raise RecursionError in them. Brackets
    inside strings do not count; for invalid JSON the answer only needs to be a safe one.
    """
    steps = _STRING.sub(b"", raw).translate(_BRACKETS, _NOT_BRACKETS)
    return max(itertools.accumulate(memoryview(steps).cast("b")), default=0) > limit


def _has_nul(raw: bytes) -> bool:
    r"""Whether a string holds the escape \u0000 (NUL); "\\u0000" is a backslash and text."""
    at = raw.find(b"\\u0000")
    while at != -1:
        start = at
        while start and raw[start - 1] == 0x5C:  # "\"
            start -= 1
        if (at - start) % 2 == 0:  # the backslashes before this one pair up: it starts an escape
            return True
        at = raw.find(b"\\u0000", at + 1)
    return False


class _Refused(Exception):
    """Raised from inside the exact check with the reason for the rejection."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> None:
    if len({key for key, _ in pairs}) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                shown = key if len(key) <= 64 else key[:63] + "…"
                raise _Refused(
                    f"duplicate key {shown!r}: each key may appear once per object (PostgreSQL "
                    "keeps the last copy and DuckDB the first)"
                )
            seen.add(key)


def _number(text: str) -> None:
    mantissa, _, exponent = text.lower().partition("e")
    whole, _, fraction = mantissa.lstrip("-").partition(".")
    power = exponent.lstrip("+-").lstrip("0")
    if (
        len(whole) > MAX_NUMBER_DIGITS
        or len(fraction) > MAX_NUMBER_DIGITS
        or len(power) > 4
        or (power and int(power) > MAX_NUMBER_EXPONENT)
    ):
        shown = text if len(text) <= 24 else f"{text[:12]}…{text[-8:]} ({len(text):,} characters)"
        raise _Refused(
            f"the number '{shown}' is beyond what the warehouses store: numbers may have up to "
            f"{MAX_NUMBER_DIGITS:,} digits before and after the point and an exponent from "
            f"-{MAX_NUMBER_EXPONENT:,} to {MAX_NUMBER_EXPONENT:,}"
        )


def _screen_float(text: str) -> None:
    """msgspec's float hook: it sees how each number is written, so a rule-breaking one is caught
    in the decode that runs anyway; shorter than "1e1001", none can break a rule."""
    if len(text) > 5:
        _number(text)


_ANY: Final = msgspec.json.Decoder(float_hook=_screen_float)
_ANY_ENCODER: Final = msgspec.json.Encoder()


def _structure_problem(raw: bytes, escapes: bool) -> str | None:
    r"""Duplicate keys anywhere, and numbers PostgreSQL cannot hold; None when there are none.

    The exact check (Python's json with hooks) costs twice the whole decode, so it runs only when
    the cheap one finds something. Duplicates: every key is followed by one ":", and a decoded
    object keeps one copy of each key, so with duplicates the re-encoded JSON has fewer ":" than the
    raw bytes; a colon written as an escape (\u003a) is the one way to hide that, so it goes exact.
    Numbers: msgspec hands every float's text to `_screen_float`, and refuses integers of more
    than 4,300 digits itself.
    """
    try:
        plain = _ANY.decode(raw)
    except _Refused as refused:
        return str(refused)
    except msgspec.ValidationError:  # an integer too long to read: the exact check says why
        pass
    else:
        if _ANY_ENCODER.encode(plain).count(b":") == raw.count(b":") and not (escapes and b"\\u003" in raw):
            return None
    try:  # recursive, but too_deep has refused deep nesting
        json.loads(raw, object_pairs_hook=_unique_keys, parse_float=_number, parse_int=_number)
    except _Refused as refused:
        return str(refused)
    except ValueError:  # msgspec read it, so this should not happen; its rules stand
        return None
    return None


def _ascii_digits(text: str) -> str:
    """Decimal digits of any script (full-width, Arabic-Indic, ...) as ASCII; the rest unchanged."""
    return "".join(str(digit) if (digit := unicodedata.decimal(ch, None)) is not None else ch for ch in text)


def decode(
    raw: bytes | None,
    *,
    max_bytes: int = 1024 * 1024,
    max_future: dt.timedelta = dt.timedelta(days=1),
    now: dt.datetime | None = None,
) -> Touchpoint | Rejection:
    """Turn the bytes of one Kafka record into a typed touchpoint or a readable rejection.

    Never raises: whatever the bytes, the answer is a touchpoint both warehouses can store and dbt
    can build, or a rejection whose reason says what to change.
    """
    if raw is None:
        return Rejection("empty record: the value is null, expected one JSON object")
    if len(raw) > max_bytes:
        return Rejection(f"payload is {len(raw):,} bytes; the limit is {max_bytes:,} bytes")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return Rejection(f"not UTF-8: invalid byte at position {error.start}")
    # Fewer brackets than the limit cannot nest deeper: the common case costs two counts.
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and too_deep(raw):
        return Rejection(
            f"objects and arrays are nested more than {MAX_DEPTH} levels deep; the limit is "
            f"{MAX_DEPTH}: flatten the attributes"
        )
    escapes = raw.find(b"\\") != -1  # rare in practice: the checks for two escapes run only then
    if escapes and _has_nul(raw):
        # PostgreSQL text and jsonb cannot hold NUL; refuse it for every warehouse alike.
        return Rejection("contains a NUL character (\\u0000), which warehouses cannot store")
    try:
        envelope = _ENVELOPE.decode(raw)
    except msgspec.ValidationError as error:
        return Rejection(f"does not match the event envelope: {_readable(error)}")
    except msgspec.DecodeError as error:
        return Rejection(f"not valid JSON: {_readable(error)}")

    event_id, event_type = envelope.event_id.lower(), envelope.event_type
    problem = _structure_problem(raw, escapes)
    if problem is not None:
        return Rejection(problem, event_id, event_type)
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
    phone = customer.phone
    if phone is not None and not phone.isascii():
        # dbt keeps a phone's ASCII digits only: full-width or Arabic-Indic digits must stitch too.
        phone = _ascii_digits(phone)
    if customer.customer_id is None and customer.email is None:
        if phone is None:
            return Rejection(
                "customer has no identifier: give at least one of customer_id, email, phone",
                event_id,
                event_type,
            )
        if not _ASCII_DIGIT.search(phone):
            return Rejection(
                "customer.phone has no digit and is the customer's only identifier, so the event "
                "could never be matched to a customer: give a phone number, customer_id or email",
                event_id,
                event_type,
            )

    stamp = envelope.occurred_at
    try:  # to plain datetime: converting to the Annotated Timestamp hashes the type on every call
        occurred_at = msgspec.convert(stamp, dt.datetime)
    except msgspec.ValidationError as error:
        # As when msgspec parsed it with the envelope: no event_id, the envelope did not hold.
        return Rejection(f"does not match the event envelope: occurred_at: {_readable(error)}")
    if occurred_at.tzinfo is None:
        return Rejection(
            "does not match the event envelope: occurred_at: expected datetime with a timezone component"
        )
    if stamp[-1] not in "Zz" and stamp[-3] != ":":
        return Rejection(
            # Values quoted, so that `journeys quarantine list` groups these under one reason.
            f"occurred_at {stamp} writes its UTC offset as '{stamp[-5:]}'; RFC3339 needs a colon, "
            f"as in '{stamp[-5:-2]}:{stamp[-2:]}', or Z",
            event_id,
            event_type,
        )
    if occurred_at < EARLIEST:
        return Rejection(
            f"occurred_at {occurred_at.isoformat()} is before 1970-01-01T00:00:00Z, the earliest "
            "time the contract accepts",
            event_id,
            event_type,
        )
    limit = (now or dt.datetime.now(dt.UTC)) + max_future
    if occurred_at > limit:
        return Rejection(
            f"occurred_at {occurred_at.isoformat()} is in the future "
            f"(later than {limit.isoformat(timespec='seconds')})",
            event_id,
            event_type,
        )
    try:
        typed = attributes.decode(envelope.attributes)
    except (msgspec.ValidationError, msgspec.DecodeError) as error:
        return Rejection(
            f"{event_type} attributes invalid: {_readable(error, 'attributes')}",
            event_id,
            event_type,
        )
    promised = typed.promised_delivery_date
    if promised is not None and not (
        _EARLIEST_DAY <= promised.toordinal() <= occurred_at.toordinal() + PROMISE_HORIZON_DAYS
    ):
        return Rejection(
            f"{event_type} attributes invalid: attributes.promised_delivery_date {promised.isoformat()} "
            "is outside 1970-01-01 to ten years after occurred_at",
            event_id,
            event_type,
        )
    return Touchpoint(
        event_id=event_id,
        event_type=event_type,
        department=event_type.partition(".")[0],
        schema_version=envelope.schema_version,
        occurred_at=occurred_at,
        source=envelope.source,
        customer_id=customer.customer_id,
        email=customer.email,
        phone=phone,
        order_id=envelope.order_id,
        attributes=bytes(envelope.attributes),
    )


_BEYOND_SCHEMA: Final = (
    f"Also refused, beyond what this schema can say: objects and arrays nested more than {MAX_DEPTH} "
    "deep; a key twice in one object; the character U+0000; a number with more than "
    f"{MAX_NUMBER_DIGITS:,} digits before or after its point or an exponent beyond "
    f"+-{MAX_NUMBER_EXPONENT:,}; attributes.promised_delivery_date before 1970-01-01 or more than "
    "ten years after occurred_at."
)


def json_schema() -> dict[str, Any]:
    """The contract as JSON Schema (2020-12): the envelope, plus the attributes each type requires."""
    envelope_schema = msgspec.json.schema(Envelope)
    definitions: dict[str, Any] = dict(envelope_schema.pop("$defs", {}))
    envelope = definitions.pop("Envelope")
    envelope["properties"]["attributes"] = {"type": "object"}
    envelope["properties"]["event_type"] = {"enum": list(EVENT_TYPES)}
    envelope["properties"]["schema_version"] = {"const": SCHEMA_VERSION}
    envelope["properties"]["occurred_at"] = {
        "type": "string",
        "format": "date-time",
        "pattern": RFC3339_OFFSET,
        "description": "RFC 3339, its UTC offset written Z or +01:00 (not +0100); from "
        "1970-01-01T00:00:00Z to a day ahead of the loader's clock",
    }
    envelope["description"] = f"{envelope.get('description', '')} {_BEYOND_SCHEMA}".strip()
    definitions["Customer"]["properties"]["phone"]["description"] = (
        "Decimal digits of any script are stored as ASCII digits. A phone that is the only "
        "identifier must have a digit."
    )
    definitions["Customer"]["anyOf"] = [{"required": [field]} for field in ("customer_id", "email", "phone")]
    typed = msgspec.json.schema(TypedAttributes)
    definitions.update(typed["$defs"])
    description = definitions["TypedAttributes"]["description"]
    definitions["TypedAttributes"]["description"] = " ".join(description.split())  # one line
    rules: list[dict[str, Any]] = [{"properties": {"attributes": {"$ref": typed["$ref"]}}}]
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
