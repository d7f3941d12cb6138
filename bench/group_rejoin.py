"""Does the next member of a consumer group get its partitions after the others stop? (issue 17)

    python -m bench.group_rejoin [--trials 3] [--wait 20] [--bootstrap HOST:PORT]

Plain kafka-python group members, none of the loader's code, each in a process of its own, on
the embedded Tansu broker (or on `--bootstrap`, e.g. the Compose stack's Apache Kafka at
127.0.0.1:9092, to compare). Three ways the members before it stop, `--trials` times each:

- follower-leaves-first: two members that share the partitions leave (close(), which sends
  LeaveGroup, as a SIGTERMed loader does), the follower, then the leader a few milliseconds later;
- leader-leaves-first: the same, the leader first;
- kill-together: two such members SIGKILLed at once (they never leave: the broker expires them);
- leave-while-joining: one member leaves half a second into its JoinGroup.

Then a new member joins the same group. Each trial prints whether it got every partition within
`--wait` seconds, and whether the broker told it to follow a member that had left. On Tansu 0.6
every trial where the leader left while the group was forming (the first and the last) ends so,
with no partition however long it waits; deleting the group (done at the end of every trial)
lets the next member in. Two loaders stopped at the same moment leave in either order.
"""

from __future__ import annotations

import argparse
import logging
import re
import select
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic

from bench.common import ROOT, machine, say
from streams.broker import EmbeddedBroker

_TOPICS = ("rejoin-a", "rejoin-b")
SCENARIOS = ("follower-leaves-first", "leader-leaves-first", "kill-together", "leave-while-joining")
_PARTITIONS = 3
_SESSION_MS = 6000  # the loader's default (JOURNEYS_KAFKA_SESSION_TIMEOUT_MS)
_MEMBER_ID = re.compile(r"Received member id (\S+) for group")
_JOINED = re.compile(
    r"JoinGroupResponse\(.*error_code=0, .*leader='(?P<leader>[^']*)'.*member_id='(?P<member>[^']*)'"
)


# -- one member, in a process of its own -------------------------------------------------------


class _Reporter(logging.Handler):
    """Prints the member's id and each leader the broker names, from kafka-python's group log."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if match := _MEMBER_ID.search(message):
            print(f"id {match.group(1)}", flush=True)
        if match := _JOINED.search(message):
            print(f"leader {match['leader']}", flush=True)


def member(bootstrap: str, group: str) -> None:
    """Poll until 'leave' on stdin, printing 'assigned N' whenever the assignment changes."""
    coordinator = logging.getLogger("kafka.coordinator")
    coordinator.setLevel(logging.DEBUG)  # the group protocol's answers; no records in them
    coordinator.addHandler(_Reporter())
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        session_timeout_ms=_SESSION_MS,
        heartbeat_interval_ms=1000,
    )
    consumer.subscribe(list(_TOPICS))
    assigned = -1
    while not select.select([sys.stdin], [], [], 0)[0]:
        consumer.poll(timeout_ms=100)
        if len(consumer.assignment()) != assigned:
            assigned = len(consumer.assignment())
            print(f"assigned {assigned}", flush=True)
    consumer.close(autocommit=False)  # LeaveGroup
    print("left", flush=True)


# -- the trials ----------------------------------------------------------------------------------


class Member:
    def __init__(self, bootstrap: str, group: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.group_rejoin", "--member", bootstrap, group],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.id = ""
        self.leaders: list[str] = []
        self.assigned = 0
        self.left = False
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            word, _, value = line.strip().partition(" ")
            if word == "id":
                self.id = value
            elif word == "leader":
                self.leaders.append(value)
            elif word == "assigned":
                self.assigned = int(value)
            elif word == "left":
                self.left = True

    def leave(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.write("leave\n")
            self.process.stdin.flush()

    def stop(self) -> None:
        self.leave()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@dataclass(frozen=True)
class Outcome:
    assigned: bool
    seconds: float
    leader_left: bool  # the broker named as leader a member that had already stopped


def _until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def trial(scenario: str, bootstrap: str, wait: float) -> Outcome:
    group = f"rejoin-{uuid.uuid4().hex[:8]}"
    before: list[Member] = []
    try:
        if scenario == "leave-while-joining":
            first = Member(bootstrap, group)
            before.append(first)
            assert _until(lambda: bool(first.id), 30), "no member id"
            time.sleep(0.5)  # Tansu answers a forming group's joins after about 3 s
            first.stop()
        else:
            pair = [Member(bootstrap, group), Member(bootstrap, group)]
            before.extend(pair)
            assert _until(lambda: all(m.assigned for m in pair), 60), "the pair never shared the partitions"
            if scenario == "kill-together":
                for m in pair:
                    m.process.kill()
            else:  # the follower first, so the leader leaves while the group re-forms
                leader = next(m for m in pair if m.leaders and m.leaders[-1] == m.id)
                follower = next(m for m in pair if m is not leader)
                first, second = (
                    (leader, follower) if scenario == "leader-leaves-first" else (follower, leader)
                )
                first.leave()
                assert _until(lambda: first.left, 30), "a member could not leave"
                second.leave()  # a few ms later: the group is still re-forming
            for m in pair:
                m.process.wait(timeout=30)
        gone = {m.id for m in before}
        started = time.monotonic()
        new = Member(bootstrap, group)
        try:
            got = _until(lambda: new.assigned == len(_TOPICS) * _PARTITIONS, wait)
            return Outcome(got, time.monotonic() - started, any(lead in gone for lead in new.leaders))
        finally:
            new.stop()
    finally:
        for m in before:
            if m.process.poll() is None:
                m.process.kill()
        _delete_group(bootstrap, group)  # whatever state the trial left the group in


def _delete_group(bootstrap: str, group: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.delete_groups([group])
    finally:
        admin.close()


@contextmanager
def _broker(bootstrap: str | None) -> Iterator[str]:
    if bootstrap is not None:
        yield bootstrap
        return
    with EmbeddedBroker(partitions=_PARTITIONS) as embedded:
        yield embedded.bootstrap_servers


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--member":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it
        member(sys.argv[2], sys.argv[3])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--wait", type=float, default=20.0, help="seconds the new member is given")
    parser.add_argument("--bootstrap", help="a broker to probe instead of the embedded one")
    args = parser.parse_args()
    say(machine())
    with _broker(args.bootstrap) as bootstrap:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap)
        try:
            existing = set(admin.list_topics())
            admin.create_topics([NewTopic(t, _PARTITIONS, 1) for t in _TOPICS if t not in existing])
        finally:
            admin.close()
        say(f"broker {bootstrap}; the new member is given {args.wait:.0f} s each time")
        for scenario in SCENARIOS:
            wedged = 0
            for number in range(1, args.trials + 1):
                outcome = trial(scenario, bootstrap, args.wait)
                wedged += not outcome.assigned
                say(
                    f"{scenario} {number}: "
                    + (
                        f"every partition after {outcome.seconds:.1f} s"
                        if outcome.assigned
                        else f"no partition within {args.wait:.0f} s"
                    )
                    + (
                        "; it was told to follow a member that had left"
                        if outcome.leader_left and not outcome.assigned
                        else ""
                    )
                )
            say(f"{scenario}: the new member got no partition in {wedged} of {args.trials}")


if __name__ == "__main__":
    main()
