"""Benchmark the in-process reference server: start, one GET /models, stop.

Run by hand:  python benchmarks/reference_server_bench.py [--servers 20] [--repeat 5]

Prints, over --repeat rounds of --servers servers one after another, the min and median time of a
round and of one server. Tests start a hundred servers or more (tests/test_quirks.py one per quirk),
so this is the number to watch; tests/test_reference_server.py asserts only the behaviour.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from conformance.reference.testing import running_server


def one_round(servers: int, client: httpx.Client) -> float:
    start = time.perf_counter()
    for _ in range(servers):
        with running_server() as url:
            client.get(url + "/models").raise_for_status()
    return time.perf_counter() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--servers", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    with httpx.Client(timeout=30) as client:
        one_round(1, client)  # the shared event loop's thread, imports
        times = [one_round(args.servers, client) for _ in range(args.repeat)]
    best, median = min(times), statistics.median(times)
    print(f"{args.servers} servers: min {best:.3f} s, median {median:.3f} s per round")
    print(f"one server: min {best / args.servers * 1000:.1f} ms, median {median / args.servers * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
