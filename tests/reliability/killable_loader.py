"""`journeys ingest`, with one test-only change: it SIGKILLs itself on its Nth Kafka offset commit.

That call comes right after the warehouse committed a batch and before Kafka hears of it, the window
a random external kill rarely hits. Run as `python tests/reliability/killable_loader.py N`; N = 0
never kills. Everything else (broker, loader, warehouse) is the real thing.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository, for `journeys`

from journeys.cli import main
from streams.consume import Loader
from streams.sinks.base import Batch


def die_on_commit(nth: int) -> None:
    original = Loader._commit_to_kafka
    calls = 0

    def commit(self: Loader, batch: Batch) -> None:
        nonlocal calls
        calls += 1
        if calls == nth:
            os.kill(os.getpid(), signal.SIGKILL)  # the warehouse has the batch, Kafka does not
        original(self, batch)

    Loader._commit_to_kafka = commit  # type: ignore[method-assign]


if __name__ == "__main__":
    nth = int(sys.argv[1])
    if nth:
        die_on_commit(nth)
    sys.argv = ["journeys", "--verbose", "ingest"]  # logs each committed batch
    main()
