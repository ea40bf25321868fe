"""Benchmark: what a run sends, how long it takes against its lower bound, and what the harness costs.

    python benchmarks/suite_bench.py                  # everything (a few minutes)
    python benchmarks/suite_bench.py --part requests  # one part: requests, bound, scaling, cpu, startup
    python benchmarks/suite_bench.py --quick          # latencies / 4, for a smoke run

Run by hand; the numbers go into issue notes. Every provider is a reference server wrapped in a
counter (tests/counting_server.py) that records each request it receives, how many were in
flight at once, and when the first arrived and the last was answered. The servers run in this
process; `conformance run` runs as a user runs it, in a subprocess.

1. requests: two providers, each `max_concurrency: 2`; requests counted at each server (and the
   peak in flight) for a plain run, `-n 2`, `-n 4`, `-k chat.basic`, `--check stream.framing,...`.
2. bound: five providers at 100, 150, 200, 250, 300 ms (`max_concurrency: 4`). A provider's
   lower bound is the larger of (a) its busy time over its concurrency: the sum over its
   requests of arrival-to-last-byte at the server (the server delays each response and each
   streamed event by the latency), divided by `max_concurrency`; and (b) its longest chain of
   requests that must follow one another (fuzz examples, a stream's events, probe then check),
   measured as its span at the server when it runs alone with `max_concurrency: 64`. The run's
   bound is the largest provider's. Reported: the span at the servers (first request received
   to last answer sent) and the process wall time, each over the bound.
3. scaling: 5 and then 20 providers at 200 ms, same settings: how the span and the wall grow.
4. cpu: harness CPU per executed check: in one process without pytest (run_provider, after a
   warm-up, server in another process), and through the CLI (a full run minus a one-check run,
   over the checks in between, so start-up and one-off imports cancel out).
5. startup: from spawning `conformance run --check models.list` to its first request at the
   server (median of 5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from counting_server import KEY, KEY_ENV, CountingServer, counting_servers, providers_yaml  # noqa: E402


def run_cli(work: Path, servers: list[CountingServer], *args: str, max_concurrency: int = 4) -> dict[str, Any]:
    """One `conformance run` against `servers`; what it cost and what the servers saw."""
    (work / "providers.yaml").write_text(providers_yaml(servers, max_concurrency=max_concurrency), encoding="utf-8")
    for s in servers:
        s.counts.reset()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out", *args],
        cwd=work, env={**os.environ, KEY_ENV: KEY}, capture_output=True, text=True, check=False,
    )
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    results_file = work / "out" / "results.json"
    results = json.loads(results_file.read_text(encoding="utf-8"))["results"] if results_file.is_file() else []
    firsts = [s.counts.first_at for s in servers if s.counts.first_at is not None]
    lasts = [s.counts.last_done_at for s in servers if s.counts.last_done_at is not None]
    return {
        "wall": wall,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "span": (max(lasts) - min(firsts)) if firsts and lasts else 0.0,
        "first_request": (min(firsts) - started) if firsts else None,
        "received": {s.name: s.counts.total for s in servers},
        "peak": {s.name: s.counts.peak for s in servers},
        "busy": {s.name: s.counts.busy_s for s in servers},
        "own_span": {s.name: (s.counts.last_done_at or 0) - (s.counts.first_at or 0) for s in servers},
        "results": results,
        "code": done.returncode,
        "tail": (done.stdout + done.stderr)[-600:],
    }


def part_requests(work: Path) -> None:
    print("1. requests counted at the servers (2 providers, max_concurrency 2)")
    with counting_servers(["alpha", "beta"], latency_ms=20) as servers:
        for args in ((), ("-n", "2"), ("-n", "4"), ("-k", "chat.basic"),
                     ("--check", "stream.framing,stream.chunk_schema,stream.role_first")):
            r = run_cli(work, servers, *args, max_concurrency=2)
            shown = " ".join(args) or "plain"
            counts = ", ".join(f"{n}: {r['received'][n]} requests, peak {r['peak'][n]} in flight" for n in r["received"])
            print(f"   {shown:<62} {counts}; {len(r['results'])} results")


def lower_bound(work: Path, latencies: dict[str, float], concurrency: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Each provider's bound (see the module docstring) and the measured run it came from."""
    chains: dict[str, float] = {}
    for name, latency in latencies.items():  # alone, practically unlimited concurrency: its chain
        with counting_servers([name], latency_ms=latency) as alone:
            chains[name] = run_cli(work, alone, max_concurrency=64)["own_span"][name]
    with counting_servers(list(latencies), latency_ms=latencies) as servers:
        run = run_cli(work, servers, max_concurrency=concurrency)
    bounds = {n: max(run["busy"][n] / concurrency, chains[n]) for n in latencies}
    for n in latencies:
        print(f"   {n}: {run['received'][n]} requests, busy {run['busy'][n]:6.1f} s / {concurrency} = "
              f"{run['busy'][n] / concurrency:5.2f} s, longest chain {chains[n]:5.2f} s -> bound {bounds[n]:5.2f} s; "
              f"its own span in the run {run['own_span'][n]:5.2f} s, peak {run['peak'][n]} in flight")
    return bounds, run


def part_bound(work: Path, scale: float) -> None:
    print("2. five providers at 100-300 ms, max_concurrency 4, one `conformance run`")
    latencies = {f"p{int(ms)}": ms * scale for ms in (100, 150, 200, 250, 300)}
    bounds, run = lower_bound(work, latencies, 4)
    bound = max(bounds.values())
    print(f"   run: span at the servers {run['span']:.2f} s = {run['span'] / bound:.2f}x the bound {bound:.2f} s; "
          f"process wall {run['wall']:.2f} s = {run['wall'] / bound:.2f}x; "
          f"sum of the bounds (providers one after another) {sum(bounds.values()):.2f} s")


def part_scaling(work: Path, scale: float) -> None:
    print("3. 5 -> 20 providers at 200 ms each, max_concurrency 4")
    rows = {}
    for count in (5, 20):
        for args in ((), ("-n", "2")):
            names = [f"q{i:02d}" for i in range(count)]
            with counting_servers(names, latency_ms=200 * scale) as servers:
                r = run_cli(work, servers, *args)
            assert r["code"] == 0, r["tail"]
            rows[(count, args)] = r
            print(f"   {count:>2} providers {' '.join(args) or '(one process)':<14} span {r['span']:5.2f} s, "
                  f"wall {r['wall']:5.2f} s, client CPU {r['cpu']:5.2f} s, {sum(r['received'].values())} requests")
    for args in ((), ("-n", "2")):
        small, big = rows[(5, args)], rows[(20, args)]
        print(f"   growth {' '.join(args) or '(one process)'}: span x{big['span'] / small['span']:.2f}, "
              f"wall x{big['wall'] / small['wall']:.2f}")


@contextmanager
def server_process():
    """A plain reference server in its own process (its CPU is not the harness')."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "serve", "--port", str(port), "--api-key", KEY],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        import httpx

        for _ in range(400):
            try:
                httpx.get(url + "/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def part_cpu(work: Path) -> None:
    print("4. harness CPU per executed check (zero-latency server)")
    from conftest import reference_provider

    from conformance.runner import run_provider

    with server_process() as url:
        provider = reference_provider(url, KEY)
        run_provider(provider)  # warm: imports, the schema registry, Hypothesis, the SDK
        cpu, wall = time.process_time(), time.perf_counter()
        rounds = 3
        for _ in range(rounds):
            results = run_provider(provider)
        executed = sum(r.status.value != "skipped" for r in results)
        per = (time.process_time() - cpu) / rounds / executed * 1000
        print(f"   in process (run_provider, no pytest): {per:.2f} ms CPU per check "
              f"({executed} checks, {(time.perf_counter() - wall) / rounds:.2f} s wall per run)")
    with counting_servers(["zero"]) as servers:
        run_cli(work, servers)
        full = [run_cli(work, servers) for _ in range(2)]
        one = [run_cli(work, servers, "--check", "models.list") for _ in range(2)]
    executed = sum(r["status"] != "skipped" for r in full[0]["results"])
    cpu_full, cpu_one = min(r["cpu"] for r in full), min(r["cpu"] for r in one)
    print(f"   through the CLI: full run {cpu_full:.2f} s CPU, one-check run {cpu_one:.2f} s -> "
          f"{(cpu_full - cpu_one) / (executed - 1) * 1000:.1f} ms CPU per further check (includes one-off imports "
          "a full run needs: Hypothesis, the openai SDK)")


def part_startup(work: Path) -> None:
    print("5. CLI start-up to the first request")
    with counting_servers(["first"]) as servers:
        runs = [run_cli(work, servers, "--check", "models.list") for _ in range(5)]
    firsts = sorted(r["first_request"] for r in runs)
    walls = sorted(r["wall"] for r in runs)
    print(f"   first request after {statistics.median(firsts):.2f} s (median of 5; {firsts[0]:.2f}-{firsts[-1]:.2f}); "
          f"whole one-check run {statistics.median(walls):.2f} s")


PARTS = {"requests": part_requests, "bound": part_bound, "scaling": part_scaling, "cpu": part_cpu,
         "startup": part_startup}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="latencies / 4")
    ap.add_argument("--part", choices=sorted(PARTS), action="append", help="run only these parts")
    args = ap.parse_args()
    scale = 0.25 if args.quick else 1.0
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    for name in args.part or list(PARTS):
        work = Path(tempfile.mkdtemp(prefix=f"conf-bench-{name}-"))
        fn = PARTS[name]
        if name in ("bound", "scaling"):
            fn(work, scale)  # type: ignore[call-arg]
        else:
            fn(work)  # type: ignore[call-arg]


if __name__ == "__main__":
    main()
