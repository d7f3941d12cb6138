"""Events per second the simulator generates, best of N runs, on one core.

    python -m bench.simulator_speed [--customers 2000] [--days 90] [--repeat 3]

Times `streams.simulator.measure`: full runs of the default configuration (faults included),
generating records only, with nothing published.
"""

from __future__ import annotations

import argparse

from bench.common import machine, say
from streams.simulator import measure


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--customers", type=int, default=2000, help="customers (default 2000)")
    parser.add_argument("--days", type=int, default=90, help="days of history (default 90)")
    parser.add_argument("--seed", type=int, default=42, help="seed (default 42)")
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best counts (default 3)")
    args = parser.parse_args()

    say(f"simulator speed: {args.customers:,} customers, {args.days} days, best of {args.repeat}")
    say(f"machine: {machine()}")
    records, seconds = measure(customers=args.customers, days=args.days, seed=args.seed, repeat=args.repeat)
    say(f"{records:,} records in {seconds:.3f} s (best run): {records / seconds:,.0f} events/s")


if __name__ == "__main__":
    main()
