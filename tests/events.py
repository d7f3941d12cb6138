"""Valid contract-v1 events made quickly for tests, independent of the simulator."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator

import msgspec

_BASE = dt.datetime(2026, 9, 1, 8, 0, tzinfo=dt.UTC)


def event(
    event_type: str = "sales.order_placed",
    *,
    order_id: str | None = "O-1",
    customer: dict[str, str] | None = None,
    attributes: dict[str, object] | None = None,
    occurred_at: dt.datetime | None = None,
    event_id: str | None = None,
    **extra: object,
) -> dict[str, object]:
    defaults: dict[str, dict[str, object]] = {
        "sales.order_placed": {
            "amount": 42.5,
            "currency": "EUR",
            "items": 2,
            "channel": "web",
            "promised_delivery_date": "2026-09-05",
        },
        "shipping.delivered": {"damaged": False},
        "support.ticket_opened": {"ticket_id": "T-1", "channel": "email", "category": "delivery"},
    }
    body: dict[str, object] = {
        "event_id": event_id or str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": (occurred_at or _BASE).isoformat(),
        "source": "test",
        "customer": customer if customer is not None else {"customer_id": "C-1", "email": "c1@example.com"},
        "order_id": order_id,
        "attributes": attributes if attributes is not None else defaults.get(event_type, {}),
    }
    body.update(extra)
    return body


def encode(body: dict[str, object]) -> bytes:
    return msgspec.json.encode(body)


def stream(count: int, seed: int = 7) -> Iterator[tuple[str, bytes, bytes]]:
    """`count` distinct valid events as (department, key, value), seeded."""
    rng = random.Random(seed)
    kinds = ["sales.order_placed", "shipping.delivered", "support.ticket_opened"]
    for index in range(count):
        event_type = kinds[index % 3]
        drawn = rng.randrange(count // 3 + 1)
        # Each order is placed once (the raw gate warns otherwise); the rest touch any order.
        order = f"O-{index // 3}" if event_type == "sales.order_placed" else f"O-{drawn}"
        body = event(
            event_type,
            order_id=order,
            customer={"customer_id": f"C-{rng.randrange(1000)}"},
            occurred_at=_BASE + dt.timedelta(seconds=index),
            event_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        yield event_type.partition(".")[0], order.encode(), encode(body)
