"""The simulator is the yardstick for stitching and marts, so its stream and truth are tested hard."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import json
import random
import uuid
from collections.abc import Iterable
from pathlib import Path

import pytest

from streams import simulator
from streams.contract import Rejection, Touchpoint, decode
from streams.simulator import (
    OUTCOMES,
    SimulatedRecord,
    Simulation,
    SimulationConfig,
    Truth,
    journey_outcome,
    normalise_email,
    normalise_phone,
    read_truth,
    simulate,
    write_truth,
)

pytestmark = pytest.mark.unit

START = dt.date(2025, 3, 3)  # spans the switch to British Summer Time
SMALL = SimulationConfig(customers=300, days=60, seed=7, start=START)


class Run:
    """One simulated stream, decoded once and shared by the tests that read it."""

    def __init__(self, config: SimulationConfig) -> None:
        sim = Simulation(config)
        self.config = config
        self.records = list(sim.records())
        self.truth = sim.truth()
        self.decoded = [decode(record.value) for record in self.records]
        self.events: list[tuple[SimulatedRecord, Touchpoint]] = [
            (record, point)
            for record, point in zip(self.records, self.decoded, strict=True)
            if record.kind == "event" and isinstance(point, Touchpoint)
        ]


@pytest.fixture(scope="module")
def default_run() -> Run:
    return Run(SimulationConfig())


@pytest.fixture(scope="module")
def dated_run() -> Run:
    return Run(SimulationConfig(start=START))


@pytest.fixture(scope="module")
def clean_run() -> Run:
    return Run(SimulationConfig(start=START).clean())


# -- determinism ---------------------------------------------------------------------------


def test_same_seed_and_start_give_identical_bytes() -> None:
    first = list(simulate(SMALL))
    second = list(simulate(SMALL))
    assert first == second
    assert len(first) > 1000


def test_different_seed_gives_a_different_stream() -> None:
    first = [record.value for record in simulate(SMALL)]
    other = [record.value for record in simulate(dataclasses.replace(SMALL, seed=8))]
    assert first != other
    assert not {json.loads(v)["event_id"] for v in first[:50]} & {
        json.loads(v)["event_id"] for v in other[:50]
    }


def test_event_ids_follow_the_uuid4_recipe() -> None:
    ids = simulator._Ids(random.Random(5))
    reference = random.Random(5)
    for _ in range(200):  # crosses the 64-id refill boundary three times
        expected = str(uuid.UUID(int=reference.getrandbits(128), version=4))
        assert ids.next() == expected


def test_start_defaults_to_days_before_today() -> None:
    config = SimulationConfig(days=30)
    today = dt.datetime.now(dt.UTC).date()
    assert config.resolved_start() == today - dt.timedelta(days=30)
    start, end = config.window()
    assert end == dt.datetime.combine(today, dt.time(), dt.UTC)
    assert start.tzinfo is dt.UTC


def test_truth_is_available_without_iterating() -> None:
    lazy = Simulation(SMALL).truth()
    sim = Simulation(SMALL)
    for _ in sim.records():
        pass
    assert lazy == sim.truth()


def test_invalid_config_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate_rate"):
        SimulationConfig(duplicate_rate=1.5)
    with pytest.raises(ValueError, match="days"):
        SimulationConfig(days=0)
    with pytest.raises(ValueError, match="support_first_reply_hours"):
        SimulationConfig(support_first_reply_hours=0)


def test_no_customers_gives_an_empty_stream() -> None:
    assert list(simulate(dataclasses.replace(SMALL, customers=0))) == []


# -- the contract ----------------------------------------------------------------------------


def test_every_event_and_duplicate_decodes_to_a_touchpoint(default_run: Run) -> None:
    for record, point in zip(default_run.records, default_run.decoded, strict=True):
        if record.kind == "malformed":
            continue
        assert isinstance(point, Touchpoint), (point, record.value)
        assert point.event_id == record.event_id
        assert point.department == record.department
        assert record.kind in ("event", "duplicate")


def test_every_malformed_record_is_rejected_with_the_id_it_carries(default_run: Run) -> None:
    malformed = [
        (record, point)
        for record, point in zip(default_run.records, default_run.decoded, strict=True)
        if record.kind == "malformed"
    ]
    assert malformed
    for record, point in malformed:
        assert isinstance(point, Rejection), record.value
        assert point.event_id == record.event_id
        assert record.event_id not in default_run.truth.events


def test_malformed_records_cover_the_usual_mistakes() -> None:
    config = dataclasses.replace(SMALL, malformed_rate=0.3, customers=150)
    reasons = " | ".join(
        point.reason
        for record in simulate(config)
        if record.kind == "malformed"
        for point in [decode(record.value)]
        if isinstance(point, Rejection)
    )
    for expected in (
        "not valid JSON",
        "not UTF-8",
        "does not match the event envelope",
        "unknown event_type",
        "attributes invalid",
        "customer has no identifier",
        "unsupported schema_version",
        "in the future",
    ):
        assert expected in reasons


def test_nothing_occurs_after_the_end_of_the_window(default_run: Run) -> None:
    _, end = default_run.config.window()
    assert end <= dt.datetime.now(dt.UTC)
    occurred = [point.occurred_at for _, point in default_run.events]
    assert max(occurred) < end
    start, _ = default_run.config.window()
    assert min(occurred) >= start


def test_timestamps_carry_offsets_and_london_time(dated_run: Run) -> None:
    stamps: collections.Counter[tuple[str, str]] = collections.Counter()
    for record, point in dated_run.events:
        text = json.loads(record.value)["occurred_at"]
        stamps[(point.source, text[19:].lstrip(".0123456789"))] += 1
        assert point.occurred_at.utcoffset() is not None
    assert stamps[("webshop", "Z")] and stamps[("carrier", "Z")]
    assert stamps[("crm", "+00:00")] and stamps[("crm", "+01:00")]  # before and after BST starts
    assert stamps[("helpdesk", "+01:00")]


# -- faults ----------------------------------------------------------------------------------


def test_duplicates_repeat_an_earlier_record_byte_for_byte(default_run: Run) -> None:
    first_seen: dict[str, tuple[int, bytes]] = {}
    duplicates = 0
    for position, record in enumerate(default_run.records):
        if record.kind == "event":
            assert record.event_id is not None
            assert record.event_id not in first_seen, "an event id was published twice as new"
            first_seen[record.event_id] = (position, record.value)
        elif record.kind == "duplicate":
            duplicates += 1
            assert record.event_id in first_seen
            position_of_original, value = first_seen[record.event_id]
            assert value == record.value and position_of_original < position
    assert duplicates > 0


def test_fault_rates_of_zero_give_a_clean_stream(clean_run: Run) -> None:
    kinds = {record.kind for record in clean_run.records}
    assert kinds == {"event"}
    ids = [record.event_id for record in clean_run.records]
    assert len(ids) == len(set(ids))
    occurred = [point.occurred_at.replace(microsecond=0) for _, point in clean_run.events]
    assert occurred == sorted(occurred)
    assert clean_run.truth.records == {"event": len(ids), "duplicate": 0, "malformed": 0}


def test_faults_do_not_change_the_events(clean_run: Run, dated_run: Run) -> None:
    faulty = [record.value for record in dated_run.records if record.kind == "event"]
    clean = [record.value for record in clean_run.records]
    assert faulty != clean  # the order differs...
    assert sorted(faulty) == sorted(clean)  # ...the events do not
    assert clean_run.truth.journeys == dated_run.truth.journeys


def test_fault_rates_are_roughly_honoured(default_run: Run) -> None:
    counts = collections.Counter(record.kind for record in default_run.records)
    events = counts["event"]
    config = default_run.config
    assert 0.5 * config.duplicate_rate < counts["duplicate"] / events < 2 * config.duplicate_rate
    assert 0.4 * config.malformed_rate < counts["malformed"] / events < 2.5 * config.malformed_rate
    assert default_run.truth.records == dict(counts)


def test_some_events_arrive_weeks_late_and_some_out_of_order(default_run: Run) -> None:
    latest = dt.datetime.min.replace(tzinfo=dt.UTC)
    behind = weeks_behind = 0
    for _, point in default_run.events:
        if point.occurred_at < latest:
            behind += 1
            if latest - point.occurred_at > dt.timedelta(days=7):
                weeks_behind += 1
        latest = max(latest, point.occurred_at)
    assert weeks_behind > 0
    assert behind > weeks_behind


# -- identity ------------------------------------------------------------------------------


def test_departments_know_customers_by_their_own_fragments(default_run: Run) -> None:
    seen = collections.defaultdict(set)
    for _, point in default_run.events:
        fragments = (
            point.customer_id is not None,
            point.email is not None,
            point.phone is not None,
            point.order_id is not None,
        )
        seen[point.department].add(fragments)
    assert seen["sales"] <= {(True, True, False, True), (True, True, False, False)}
    assert seen["shipping"] == {(False, False, True, True)}
    support = seen["support"]
    assert all(not has_id for has_id, *_ in support)
    assert {(False, True, False, True), (False, True, False, False)} <= support
    assert {(False, False, True, True), (False, False, True, False)} <= support


def test_spellings_vary_but_normalise_to_one_identity_per_person(default_run: Run) -> None:
    owners: dict[str, set[str]] = collections.defaultdict(set)
    spellings: dict[str, set[str]] = collections.defaultdict(set)
    for record, point in default_run.events:
        for raw, norm in (
            (point.email, normalise_email(point.email) if point.email else None),
            (point.phone, normalise_phone(point.phone) if point.phone else None),
        ):
            if raw is None or norm is None:
                continue
            owners[norm].add(record.true_customer)
            spellings[norm].add(raw)
    assert all(len(people) == 1 for people in owners.values())
    truth = default_run.truth.customers
    for norm, people in owners.items():
        (person,) = people
        assert norm in (truth[person]["email"], truth[person]["phone"])
    emails = {s for norm, group in spellings.items() if "@" in norm for s in group}
    assert any(s != s.strip() for s in emails) and any(s != s.lower() for s in emails)
    phones = {s for norm, group in spellings.items() if "@" not in norm for s in group}
    for shape in ("+44 20 7946 ", "020-7946-", "(020) 7946 ", "+44 (0)"):
        assert any(s.startswith(shape) for s in phones), shape
    assert len({c["email"] for c in truth.values()}) == len(truth)
    assert len({c["phone"] for c in truth.values()}) == len(truth)


def test_normalisers() -> None:
    for spelling in (
        "+44 20 7946 0958",
        "020-7946-0958",
        "(020) 7946 0958",
        "02079460958",
        "0044 20 7946 0958",
        "+44 (0)20 7946 0958",
        "+442079460958",
    ):
        assert normalise_phone(spelling) == "+442079460958"
    assert normalise_email("  Olivia.Smith@EXAMPLE.com\n") == "olivia.smith@example.com"


def _components(points: Iterable[Touchpoint]) -> dict[str, str]:
    """Union-find over identifiers that co-occur on an event: a stand-in for stitching."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for point in points:
        nodes = [
            f"{kind}:{value}"
            for kind, value in (
                ("customer", point.customer_id),
                ("email", normalise_email(point.email) if point.email else None),
                ("phone", normalise_phone(point.phone) if point.phone else None),
                ("order", point.order_id),
            )
            if value is not None
        ]
        for node in nodes[1:]:
            parent[find(node)] = find(nodes[0])
    return {node: find(node) for node in parent}


def test_every_event_can_be_stitched_to_exactly_its_customer(default_run: Run) -> None:
    points = [point for _, point in default_run.events]
    root = _components(points)
    customer_of_root: dict[str, str] = {}
    for node, top in root.items():
        if node.startswith("customer:"):
            assert top not in customer_of_root, "two customers were merged"
            customer_of_root[top] = node.removeprefix("customer:")
    for record, point in default_run.events:
        key = (
            f"email:{normalise_email(point.email)}"
            if point.email
            else f"phone:{normalise_phone(point.phone)}"
            if point.phone
            else f"customer:{point.customer_id}"
        )
        assert customer_of_root.get(root[key]) == record.true_customer


def test_some_support_events_need_three_hops_to_reach_sales(default_run: Run) -> None:
    label_phones = {
        normalise_phone(point.phone)
        for _, point in default_run.events
        if point.department == "shipping" and point.phone
    }
    long_chains = [
        point
        for _, point in default_run.events
        if point.department == "support"
        and point.phone
        and not point.email
        and point.order_id is None
        and normalise_phone(point.phone) in label_phones
    ]
    assert len(long_chains) > 20  # support phone -> shipping phone -> order id -> sales customer


# -- ground truth -----------------------------------------------------------------------------


def test_every_event_has_a_true_customer(default_run: Run) -> None:
    events = default_run.truth.events
    assert len(events) == sum(1 for r in default_run.records if r.kind == "event")
    for record, _ in default_run.events:
        assert events[record.event_id or ""] == record.true_customer


def test_all_outcomes_occur_in_a_default_run(default_run: Run) -> None:
    counts = default_run.truth.outcome_counts()
    assert set(counts) == set(OUTCOMES)
    assert all(counts[outcome] >= 10 for outcome in OUTCOMES), counts
    assert counts["smooth"] > sum(counts.values()) / 2


def test_ticket_attribution_rule_recovers_the_true_order(default_run: Run) -> None:
    placed: dict[str, list[tuple[dt.datetime, str]]] = collections.defaultdict(list)
    opened: list[tuple[str, Touchpoint, str]] = []
    for record, point in default_run.events:
        if point.event_type == "sales.order_placed":
            assert point.order_id is not None
            placed[record.true_customer].append((point.occurred_at, point.order_id))
        elif point.event_type == "support.ticket_opened":
            ticket = json.loads(point.attributes)["ticket_id"]
            opened.append((ticket, point, record.true_customer))
    assert opened
    tickets = default_run.truth.tickets
    assert set(tickets) == {ticket for ticket, _, _ in opened}
    for ticket, point, customer in opened:
        attributed = point.order_id
        if attributed is None:
            earlier = [
                (at, order)
                for at, order in placed[customer]
                if point.occurred_at - dt.timedelta(days=60) <= at < point.occurred_at
            ]
            attributed = max(earlier)[1] if earlier else None
        assert tickets[ticket] == {"customer": customer, "order_id": attributed}


def test_outcomes_can_be_recomputed_from_the_stream(dated_run: Run) -> None:
    """Rebuild every journey from published events alone (a miniature of the marts)."""
    truth = dated_run.truth
    journeys: dict[str, list[simulator.Seen]] = collections.defaultdict(list)
    placed: dict[str, list[dt.datetime]] = collections.defaultdict(list)
    ticket_order = {ticket: owner["order_id"] for ticket, owner in truth.tickets.items()}
    seen: set[str] = set()
    for record, point in sorted(dated_run.events, key=lambda pair: pair[1].occurred_at):
        assert point.event_id not in seen
        seen.add(point.event_id)
        attrs = json.loads(point.attributes)
        order = point.order_id
        if point.department == "support" and attrs.get("ticket_id"):
            order = ticket_order[attrs["ticket_id"]]
        if point.event_type == "sales.order_placed":
            placed[record.true_customer].append(point.occurred_at)
        if order is not None and not point.event_type.endswith("check_in"):
            seen_at = int(point.occurred_at.timestamp())
            journeys[order].append((seen_at, point.event_type, attrs))
    _, end = dated_run.config.window()
    assert set(journeys) == set(truth.journeys)
    for order, events in journeys.items():
        expected = truth.journeys[order]
        at = next(t for t, kind, _ in events if kind == "sales.order_placed")
        later = any(int(p.timestamp()) > at for p in placed[expected.customer])
        assert journey_outcome(events, as_of=end.date(), later_order=later) == expected.outcome


def test_journey_outcome_rules_in_order() -> None:
    day = 86_400
    base = 20_000 * day
    promised = (dt.date(1970, 1, 1) + dt.timedelta(days=20_003)).isoformat()
    placed = (base, "sales.order_placed", {"promised_delivery_date": promised})
    on_time = (base + 2 * day, "shipping.delivered", {"damaged": False})
    late = (base + 5 * day, "shipping.delivered", {"damaged": False})
    opened = (base + 4 * day, "support.ticket_opened", {"ticket_id": "T1"})
    resolved = (base + 5 * day, "support.ticket_resolved", {"ticket_id": "T1"})
    refund: simulator.Seen = (base + 6 * day, "sales.refund_issued", {})

    def outcome(*events: simulator.Seen, later: bool = False, as_of_day: int = 20_030) -> str:
        as_of = dt.date(1970, 1, 1) + dt.timedelta(days=as_of_day)
        return journey_outcome(list(events), as_of=as_of, later_order=later)

    cancel: simulator.Seen = (base + 1, "sales.order_cancelled", {})
    assert outcome(placed, opened, cancel) == "cancelled"
    assert outcome(placed, on_time, opened) == "unresolved"
    assert outcome(placed) == "unresolved"  # undelivered long after the promise
    assert outcome(placed, as_of_day=20_010) == "in_progress"  # exactly 7 days after: not yet
    assert outcome(placed, as_of_day=20_011) == "unresolved"
    assert outcome(placed, on_time) == "smooth"
    assert outcome(placed, late) == "in_progress"
    assert outcome(placed, late, later=True) == "recovered"
    csat = (base + 7 * day, "support.csat_submitted", {"score": 5})
    assert outcome(placed, on_time, opened, resolved, csat) == "recovered"
    assert outcome(placed, on_time, opened, resolved, refund) == "lost"
    assert outcome(placed, on_time, opened, resolved, refund, later=True) == "recovered"
    low = (base + 7 * day, "support.csat_submitted", {"score": 2})
    assert outcome(placed, late, low) == "lost"
    three = (base + 7 * day, "support.csat_submitted", {"score": 3})
    assert outcome(placed, late, three) == "in_progress"
    reopened = (base + 6 * day, "support.ticket_reopened", {"ticket_id": "T1"})
    assert outcome(placed, on_time, opened, resolved, reopened) == "unresolved"


def test_truth_file_round_trips(tmp_path: Path) -> None:
    sim = Simulation(SMALL)
    truth = sim.truth()
    path = tmp_path / "truth.json"
    write_truth(path, truth)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert {"config", "events", "journeys"} <= set(data)
    assert data["config"]["start"] == START.isoformat()
    assert data["config"]["as_of"] == "2025-05-02T00:00:00+00:00"
    some_order, journey = next(iter(data["journeys"].items()))
    assert journey["outcome"] in OUTCOMES and journey["customer"].startswith("CUS-")
    loaded = read_truth(path)
    assert isinstance(loaded, Truth)
    assert loaded == truth
    assert loaded.config == SMALL
    assert loaded.journeys[some_order].outcome == journey["outcome"]


def test_truth_file_reproduces_a_run_with_an_unset_start(tmp_path: Path) -> None:
    config = dataclasses.replace(SMALL, start=None, customers=50)
    truth = Simulation(config).truth()
    write_truth(tmp_path / "truth.json", truth)
    replay = read_truth(tmp_path / "truth.json").config
    assert replay.start == config.resolved_start()
    assert Simulation(replay).truth().events == truth.events


# -- realism ------------------------------------------------------------------------------


def test_orders_follow_week_and_hour_patterns_and_customers_come_back(default_run: Run) -> None:
    hours: collections.Counter[int] = collections.Counter()
    weekdays: collections.Counter[int] = collections.Counter()
    orders_per_customer: collections.Counter[str] = collections.Counter()
    for record, point in default_run.events:
        if point.event_type == "sales.order_placed":
            hours[point.occurred_at.astimezone(dt.UTC).hour] += 1
            weekdays[point.occurred_at.astimezone(dt.UTC).weekday()] += 1
            orders_per_customer[record.true_customer] += 1
    assert weekdays[5] < 0.85 * weekdays[0]  # Saturday is quieter than Monday
    night = sum(hours[h] for h in range(2, 6))
    evening = sum(hours[h] for h in range(19, 23))
    assert evening > 5 * night
    repeaters = sum(1 for n in orders_per_customer.values() if n >= 2)
    assert repeaters > 0.2 * len(orders_per_customer)


def test_department_knobs_change_department_performance() -> None:
    def problems(**knobs: float) -> collections.Counter[str]:
        truth = Simulation(SimulationConfig.from_dict({**SMALL.to_dict(), **knobs})).truth()
        return collections.Counter(p for j in truth.journeys.values() for p in j.problems)

    calm = problems(shipping_late_rate=0.0, failed_attempt_rate=0.0, shipping_damage_rate=0.0)
    assert calm["late"] == 0 and calm["damaged"] == 0
    rough = problems(shipping_late_rate=0.5, shipping_damage_rate=0.3)
    assert rough["late"] > 50 and rough["damaged"] > 30


def test_measure_reports_records_and_seconds() -> None:
    count, seconds = simulator.measure(customers=50, days=30)
    assert count > 100 and seconds > 0


def test_epochs_of_a_live_feed_never_share_an_identity_order_ticket_or_event() -> None:
    """`simulate --follow` chains epochs; stitching must not merge people across them."""
    seen: dict[str, set[str]] = collections.defaultdict(set)
    for epoch in range(3):
        truth = Simulation(dataclasses.replace(SMALL, customers=150, epoch=epoch)).truth()
        identities = {
            "customer": set(truth.customers),
            "email": {normalise_email(c["email"]) for c in truth.customers.values()},
            "phone": {normalise_phone(c["phone"]) for c in truth.customers.values()},
            "order": set(truth.journeys),
            "ticket": set(truth.tickets),
            "event": set(truth.events),
        }
        for kind, values in identities.items():
            assert values, f"epoch {epoch} has no {kind}"
            assert not values & seen[kind], f"epoch {epoch} re-uses a {kind} of an earlier epoch"
            seen[kind] |= values


def test_epoch_zero_is_the_plain_data_set() -> None:
    plain = [r.value for r in Simulation(dataclasses.replace(SMALL, customers=40)).records()]
    explicit = [r.value for r in Simulation(dataclasses.replace(SMALL, customers=40, epoch=0)).records()]
    assert plain == explicit
