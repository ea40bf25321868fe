"""Benchmark: the full suite at scale vs the lower bound for that work (run by hand).

    python benchmarks/suite_bench.py            # all three measurements
    python benchmarks/suite_bench.py --quick    # smaller latencies, for a smoke run

1. Five reference servers (separate processes) with simulated latency 200-500 ms, one of them
   with an rpm limit, run with `conformance run -n 5`. The lower bound for each provider is its
   busy time divided by the concurrency it allows (or its request count divided by its rpm); the
   run's bound is the largest. Busy time is measured, not assumed: the servers also delay every
   streamed chunk, so a stream costs more than one latency. We take it from a sequential run
   of the same provider (max_concurrency 1), which is also "a plain sequential pytest".
2. Harness overhead: the full suite against one zero-latency reference server, wall and CPU time
   per executed check (client side only: the server runs in another process).
3. Tokens per provider per full run (from results.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

KEY = "sk-bench-key-0000"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def server(latency_ms: int, rpm: int | None = None):
    port = free_port()
    cmd = [sys.executable, "-m", "conformance.cli", "serve", "--port", str(port), "--api-key", KEY,
           "--latency-ms", str(latency_ms)]
    if rpm:
        cmd += ["--rpm", str(rpm)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        for _ in range(200):
            try:
                httpx.get(url + "/models", headers={"Authorization": f"Bearer {KEY}"}, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def providers_yaml(entries: list[tuple[str, str, int, int | None]]) -> str:
    lines = ["providers:"]
    for name, url, conc, rpm in entries:
        lines += [
            f"  - name: {name}",
            f"    base_url: {url}",
            "    api_key_env: BENCH_KEY",
            f"    max_concurrency: {conc}",
            "    timeout_s: 60",
            "    models: {chat: ref-chat, tools: ref-chat, embeddings: ref-embed}",
        ]
        if rpm:
            lines.append(f"    rpm: {rpm}")
    return "\n".join(lines) + "\n"


def run(providers_file: Path, out: Path, *extra: str) -> tuple[float, float, dict]:
    env = {**os.environ, "BENCH_KEY": KEY}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--providers", str(providers_file), "--out", str(out), *extra],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
    )
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, json.loads((out / "results.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    scale = 0.2 if args.quick else 1.0
    specs = [("p200", 200, 4, None), ("p300", 300, 4, None), ("p350", 350, 4, None),
             ("p400", 400, 4, None), ("p500", 500, 2, 120)]
    tmp = Path(tempfile.mkdtemp(prefix="conf-bench-"))
    with ExitStack() as stack:
        urls = {name: stack.enter_context(server(int(lat * scale), rpm)) for name, lat, _, rpm in specs}
        # Sequential reference: each provider alone, one request at a time = its busy time.
        seq_total, bounds = 0.0, {}
        for name, _, conc, rpm in specs:
            f = tmp / f"seq-{name}.yaml"
            f.write_text(providers_yaml([(name, urls[name], 1, None)]))
            wall, _, data = run(f, tmp / f"seq-{name}", "-p", "no:xdist")
            requests = sum(r["requests"] for r in data["results"])
            seq_total += wall
            bound = wall / conc
            if rpm:
                bound = max(bound, requests / rpm * 60)
            bounds[name] = (wall, requests, bound)
            print(f"sequential {name}: {wall:6.1f} s for {requests} requests -> bound at concurrency {conc}"
                  f"{' / rpm ' + str(rpm) if rpm else ''}: {bound:5.1f} s")
        f = tmp / "all.yaml"
        f.write_text(providers_yaml([(n, urls[n], c, r) for n, _, c, r in specs]))
        wall, cpu, data = run(f, tmp / "all", "-n", str(len(specs)))
        bound = max(b for _, _, b in bounds.values())
        print(f"\n1. parallel run of {len(specs)} providers: {wall:.1f} s; lower bound {bound:.1f} s "
              f"-> {wall / bound:.2f}x the bound; sequential total {seq_total:.1f} s ({seq_total / wall:.1f}x slower)")
        tokens = {}
        for r in data["results"]:
            t = tokens.setdefault(r["provider"], [0, 0])
            t[0] += r["tokens"]["total"]
            t[1] += r["requests"]
        # 2. Harness overhead against a zero-latency server.
        with server(0) as url0:
            f0 = tmp / "zero.yaml"
            f0.write_text(providers_yaml([("zero", url0, 4, None)]))
            run(f0, tmp / "zero-warm", "-p", "no:xdist")
            wall0, cpu0, data0 = run(f0, tmp / "zero", "-p", "no:xdist")
            # The fixed cost (interpreter, imports, pytest, reports) from a run of one check.
            wall1, cpu1, _ = run(f0, tmp / "zero-one", "-p", "no:xdist", "--check", "models.list")
        executed = sum(r["status"] != "skipped" for r in data0["results"])
        per_wall = (wall0 - wall1) / (executed - 1) * 1000
        per_cpu = (cpu0 - cpu1) / (executed - 1) * 1000
        print(f"2. zero-latency server: {executed} checks in {wall0:.2f} s wall, client CPU {cpu0:.2f} s; "
              f"fixed cost (1 check) {wall1:.2f} s wall / {cpu1:.2f} s CPU; "
              f"per further check {per_wall:.1f} ms wall / {per_cpu:.1f} ms CPU")
        print("3. tokens per provider per full run: " + ", ".join(f"{p}: {t} tokens / {n} requests" for p, (t, n) in tokens.items()))


if __name__ == "__main__":
    main()
