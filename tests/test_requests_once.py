"""Exactly the requests asked for, once: counted where they arrive.

Every test here runs the suite the way a user does (`conformance run`, or plain `python -m pytest
--pyargs conformance.suite` with their own options) against reference servers that count what
they receive (tests/counting_server.py): each request (method, path, body digest) and the most
requests in flight at once. A run with xdist workers must send the same requests as a run
without; a deselected check sends nothing and records nothing; a probe shared by several checks
is sent once; no provider ever has more than `max_concurrency` requests in flight, across all
workers. Then the pieces underneath: the plan, the distribution of providers to workers, cases
already recorded by a dead worker, and Hypothesis run from many threads at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.catalog import load_catalog
from conformance.checks import Session, run_check
from conformance.distribution import distribution_note, distribution_problem, unit_of
from conformance.plan import RunPlan, provider_of_nodeid
from conformance.providers import ModelConfig, Provider
from conformance.runner import ConcurrentBatches, cases, run_case
from conformance.transport import ProviderClient

from conftest import reference_provider
from counting_server import KEY, KEY_ENV, CountingServer, counting_servers, providers_yaml

NAMES = ("alpha", "beta")
MAX_CONCURRENCY = 2
LATENCY_MS = 20  # enough for requests to overlap, so a limiter that leaks shows as a peak above 2
RUN_LIMIT_S = 600  # a hang fails here


@dataclass(frozen=True)
class Run:
    """What one run sent (per server) and recorded."""

    received: dict[str, Counter[tuple[str, str, str]]]
    peaks: dict[str, int]
    results: list[dict[str, Any]]
    output: str
    code: int

    def total(self, name: str) -> int:
        return sum(self.received[name].values())

    def checks(self, name: str) -> set[str]:
        return {r["check"] for r in self.results if r["provider"] == name}


@pytest.fixture(scope="module")
def servers() -> Iterator[list[CountingServer]]:
    with counting_servers(list(NAMES), latency_ms=LATENCY_MS) as started:
        yield started


_runs = threading.Lock()


def run_suite(tmp: Path, servers: list[CountingServer], *args: str, plain_pytest: bool = False) -> Run:
    """One run against the counting servers: `conformance run ARGS`, or `python -m pytest ... ARGS`."""
    with _runs:  # the counters are shared: one run at a time
        (tmp / "providers.yaml").write_text(providers_yaml(servers, max_concurrency=MAX_CONCURRENCY), encoding="utf-8")
        for s in servers:
            s.counts.reset()
        if plain_pytest:
            command = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "--providers", "providers.yaml",
                       "--conformance-out", "out", "-q", "-p", "no:cacheprovider", *args]
        else:
            command = [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out",
                       *args]
        done = subprocess.run(command, cwd=tmp, env={**os.environ, KEY_ENV: KEY}, capture_output=True, text=True,
                              timeout=RUN_LIMIT_S)
        results_file = tmp / "out" / "results.json"
        results = json.loads(results_file.read_text(encoding="utf-8"))["results"] if results_file.is_file() else []
        return Run(
            received={s.name: s.counts.multiset() for s in servers},
            peaks={s.name: s.counts.peak for s in servers},
            results=results,
            output=done.stdout + done.stderr,
            code=done.returncode,
        )


@pytest.fixture(scope="module")
def plain(servers: list[CountingServer], tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The reference point: a run with no workers and no selection."""
    return run_suite(tmp_path_factory.mktemp("plain"), servers)


# --- a whole run --------------------------------------------------------------------------------


def test_a_plain_run_records_every_request_it_sends(plain: Run) -> None:
    for name in NAMES:
        recorded = sum(r["requests"] for r in plain.results if r["provider"] == name)
        assert plain.total(name) == recorded > 50, plain.output[-2000:]
        assert plain.peaks[name] <= MAX_CONCURRENCY


def test_a_plain_run_sends_each_probe_once(plain: Run) -> None:
    """The requests sent twice on purpose: the repeat embeddings.deterministic compares, the long
    prefix caching.cached_tokens sends twice, and responses.retrieve's GET before and after DELETE."""
    expected = [("GET", "/v1/responses/resp_{id}", 2), ("POST", "/v1/chat/completions", 2), ("POST", "/v1/embeddings", 2)]
    for name in NAMES:
        repeated = {key: n for key, n in plain.received[name].items() if n > 1}
        assert sorted((method, path, n) for (method, path, _), n in repeated.items()) == expected


@pytest.mark.slow
@pytest.mark.parametrize(
    "args,plain_pytest",
    [
        (("-n", "1"), False),
        (("-n", "2"), False),
        (("-n", "3"), False),
        (("-n", "3"), True),  # plain pytest: xdist's default --dist load, which used to triple the traffic
        (("-n", "2", "--dist", "worksteal"), True),
    ],
    ids=["cli-n1", "cli-n2", "cli-n3", "pytest-n3-load", "pytest-n2-worksteal"],
)
def test_workers_send_exactly_what_a_plain_run_sends(
    plain: Run, servers: list[CountingServer], tmp_path: Path, args: tuple[str, ...], plain_pytest: bool
) -> None:
    run = run_suite(tmp_path, servers, *args, plain_pytest=plain_pytest)
    assert run.code == 0, run.output[-3000:]
    for name in NAMES:
        assert run.received[name] == plain.received[name]
        assert run.peaks[name] <= MAX_CONCURRENCY  # across every worker
        assert Counter((r["provider"], r["check"], r["model"]) for r in run.results if r["provider"] == name) == \
            Counter((r["provider"], r["check"], r["model"]) for r in plain.results if r["provider"] == name)
    if plain_pytest:
        assert "is applied per provider" in run.output  # the user is told their --dist was adapted


@pytest.mark.slow
def test_max_concurrency_holds_across_workers_and_is_used(servers: list[CountingServer], tmp_path: Path) -> None:
    run = run_suite(tmp_path, servers, "-n", "3", plain_pytest=True)
    assert run.code == 0, run.output[-3000:]
    assert run.peaks == {name: MAX_CONCURRENCY for name in NAMES}


def test_dist_each_is_refused_before_anything_is_sent(servers: list[CountingServer], tmp_path: Path) -> None:
    run = run_suite(tmp_path, servers, "-n", "2", "--dist", "each", plain_pytest=True)
    assert run.code == pytest.ExitCode.USAGE_ERROR
    assert "--dist each would run every provider's checks in every worker" in run.output
    assert all(run.total(name) == 0 for name in NAMES)


# --- selection ----------------------------------------------------------------------------------


def test_k_sends_what_check_sends_and_records_only_the_selected(servers: list[CountingServer], tmp_path: Path) -> None:
    by_k = run_suite(tmp_path, servers, "-k", "chat.basic")
    by_check = run_suite(tmp_path, servers, "--check", "chat.basic")
    for name in NAMES:
        assert by_k.received[name] == by_check.received[name]
        assert by_k.total(name) == 1
        assert by_k.checks(name) == by_check.checks(name) == {"chat.basic"}
    assert len(by_k.results) == len(NAMES)


STREAM_TRIO = ("stream.framing", "stream.chunk_schema", "stream.role_first")  # all read the stream_basic probe


@pytest.mark.parametrize(
    "args",
    [
        ("--check", ",".join(STREAM_TRIO)),
        ("-k", " or ".join(STREAM_TRIO)),
    ],
    ids=["check", "k"],
)
def test_a_probe_shared_by_selected_checks_is_sent_once(
    servers: list[CountingServer], tmp_path: Path, args: tuple[str, ...]
) -> None:
    run = run_suite(tmp_path, servers, *args)
    for name in NAMES:
        assert run.total(name) == 1
        assert run.checks(name) == set(STREAM_TRIO)


def test_area_sends_only_that_area(servers: list[CountingServer], tmp_path: Path) -> None:
    run = run_suite(tmp_path, servers, "--area", "models")
    models = {spec.id for spec in load_catalog().checks if spec.area == "models"}
    for name in NAMES:
        assert {(method, path) for method, path, _ in run.received[name]} == {("GET", "/v1/models"),
                                                                              ("GET", "/v1/models/ref-chat")}
        assert run.checks(name) == models


def test_only_leaves_the_other_provider_untouched(servers: list[CountingServer], tmp_path: Path) -> None:
    run = run_suite(tmp_path, servers, "--only", "alpha", "--check", "chat.basic,models.list")
    assert run.total("alpha") == 2 and run.total("beta") == 0
    assert {r["provider"] for r in run.results} == {"alpha"}


def test_m_deselecting_everything_sends_nothing(servers: list[CountingServer], tmp_path: Path) -> None:
    run = run_suite(tmp_path, servers, "-m", "not xdist_group", plain_pytest=True)
    assert run.code == pytest.ExitCode.NO_TESTS_COLLECTED, run.output[-2000:]
    assert all(run.total(name) == 0 for name in NAMES)
    assert run.results == []


def test_deselect_drops_the_check_and_its_own_probe(plain: Run, servers: list[CountingServer], tmp_path: Path) -> None:
    """chat.logprobs alone reads the chat_logprobs probe: deselecting it saves exactly one request."""
    nodeid = "test_conformance.py::test_check[alpha:ref-chat:chat.logprobs]"
    run = run_suite(tmp_path, servers, "--check", "chat.basic,chat.logprobs", "--deselect", nodeid, plain_pytest=True)
    assert run.total("alpha") == 1 and run.total("beta") == 2, run.output[-2000:]
    assert run.checks("alpha") == {"chat.basic"}
    assert run.checks("beta") == {"chat.basic", "chat.logprobs"}


# --- one process, many providers at once ---------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("args", [("-p", "no:xdist"), ("-n", "2")], ids=["one-process", "two-workers"])
def test_every_provider_of_a_process_runs_at_the_same_time(tmp_path: Path, args: tuple[str, ...]) -> None:
    """Each provider's first request arrives before any provider's last answer is out: the
    batches overlap instead of running one after another (an ordering, not a stopwatch). With
    two workers each owns two of the four providers and runs both at once."""
    with counting_servers(["p1", "p2", "p3", "p4"], latency_ms=60) as four:
        run = run_suite(tmp_path, four, "--area", "chat,stream", *args)
        assert run.code == 0, run.output[-3000:]
        firsts = [s.counts.first_at for s in four]
        lasts = [s.counts.last_done_at for s in four]
    assert None not in firsts and None not in lasts
    assert max(firsts) < min(lasts)  # type: ignore[type-var]


def test_a_worker_tells_the_controller_which_providers_it_skipped(tmp_path: Path) -> None:
    """results.json is written by the controller, which runs no case under -n: the skip reason a
    worker found (no key) must still reach the provider's entry."""
    (tmp_path / "providers.yaml").write_text(
        "providers:\n  - name: keyless\n    base_url: http://127.0.0.1:9/v1\n"
        "    api_key_env: CONFORMANCE_TEST_UNSET_KEY\n    models: {chat: m}\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_TEST_UNSET_KEY"}
    subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out",
                    "--check", "chat.basic", "-n", "2"], cwd=tmp_path, env=env, capture_output=True,
                   timeout=RUN_LIMIT_S)
    data = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    [entry] = data["providers"]
    assert (entry["status"], entry["skip_reason"]) == ("skipped", "no key in $CONFORMANCE_TEST_UNSET_KEY")
    assert data["run"]["workers"] == 2


# --- the pieces -----------------------------------------------------------------------------------


def mock_provider(name: str = "mock") -> Provider:
    chat = (ModelConfig("m", 64, "max_tokens"),)
    return Provider(name=name, base_url="http://127.0.0.1:9/v1", models={"chat": chat, "tools": chat})


def test_the_plan_groups_cases_by_provider_in_collection_order() -> None:
    a, b = mock_provider("a"), mock_provider("b")
    picked = [*cases(a, ["chat.basic", "models.list"]), *cases(b, ["chat.stop"]), *cases(a, ["chat.n"])]
    plan = RunPlan.from_cases(picked)
    assert plan.providers == ("a", "b")
    assert [c.spec.id for c in plan.cases("a")] == ["models.list", "chat.basic", "chat.n"]
    assert [c.spec.id for c in plan.cases("b")] == ["chat.stop"]
    assert plan.cases("nobody") == () and len(plan) == 4


@pytest.mark.parametrize(
    "nodeid,provider,unit",
    [
        ("test_conformance.py::test_check[groq:llama-3:chat.basic]", "groq", "conformance:groq"),
        ("test_conformance.py::test_check[groq:llama-3:chat.basic]@groq", "groq", "conformance:groq"),
        ("test_conformance.py::test_check[groq:models.list]", "groq", "conformance:groq"),
        ("tests/test_mine.py::test_other[a@b]", None, "tests/test_mine.py::test_other[a@b]"),
        ("tests/test_mine.py::test_other@db", None, "db"),
    ],
)
def test_every_case_of_a_provider_is_one_unit_of_work(nodeid: str, provider: str | None, unit: str) -> None:
    assert provider_of_nodeid(nodeid) == provider
    assert unit_of(nodeid) == unit


@pytest.mark.parametrize(
    "dist,problem,note",
    [("no", False, False), ("loadgroup", False, False), ("load", False, True), ("worksteal", False, True),
     ("loadscope", False, True), ("loadfile", False, True), ("each", True, False)],
)
def test_which_dist_modes_are_adapted_and_which_refused(dist: str, problem: bool, note: bool) -> None:
    assert (distribution_problem(dist) is not None) == problem
    assert (distribution_note(dist) is not None) == note


def test_a_fork_per_test_is_refused() -> None:
    """pytest-forked would start every batch again in each test's fresh process."""
    assert "--forked" in (distribution_problem("no", forked=True) or "")


def test_cases_already_recorded_are_handed_out_not_sent_again() -> None:
    """A replacement worker starts a dead worker's provider: what the dead one recorded stays."""
    sent: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(200, json={"object": "list", "data": [{"id": "m", "object": "model", "created": 0,
                                                                    "owned_by": "x"}]})

    provider = mock_provider()
    session = Session(provider, client=ProviderClient(provider, transport=httpx.MockTransport(handler)))
    batch = cases(provider, ["models.list", "models.retrieve", "chat.basic"])
    done = run_case(session, batch[0])
    sent.clear()
    batches = ConcurrentBatches()
    batches.start(provider.name, batch, lambda: (session, None), recorded={batch[0].id: done})
    results = [batches.result(c) for c in batch]
    assert results[0] is done
    assert [r.check for r in results] == ["models.list", "models.retrieve", "chat.basic"]
    assert sent == ["/v1/models/m", "/v1/chat/completions"]


def test_a_provider_recorded_in_full_is_not_even_opened() -> None:
    """Opening a session may probe a keyless provider's reachability: not for nothing left to run."""
    provider = mock_provider()
    batch = cases(provider, ["models.list"])
    done = run_case(Session(provider, client=ProviderClient(provider, transport=httpx.MockTransport(
        lambda request: httpx.Response(200, json={"object": "list", "data": []})))), batch[0])
    opened: list[str] = []
    batches = ConcurrentBatches()
    batches.start(provider.name, batch, lambda: opened.append("opened") or (None, None),  # type: ignore[func-returns-value]
                  recorded={batch[0].id: done})
    assert batches.result(batch[0]) is done
    assert opened == []


FUZZ_CHECKS = ("tools.args_schema_fuzz", "chat.unicode_fuzz", "errors.param_fuzz")


@pytest.mark.slow
@pytest.mark.parametrize("quirks", [(), ("tools_invalid_args", "latin1_mojibake", "errors_detail_shape")],
                         ids=["passing", "failing-and-shrinking"])
def test_fuzz_checks_of_many_providers_at_once_give_the_verdicts_they_give_alone(quirks: tuple[str, ...]) -> None:
    """Hypothesis >= 6.136.9 runs separate tests from several threads (its Thread-Safety Policy);
    here nine property runs at once must each equal the same run alone: verdict, minimal example,
    request count, seed."""
    from conformance.reference.server import ServerConfig
    from conformance.reference.testing import running_server

    specs = {spec.id: spec for spec in load_catalog().checks}

    def one(provider: Provider, check: str, seed: int) -> tuple[str, str, int]:
        session = Session(provider, options={"hypothesis_examples": 6, "hypothesis_seed": seed})
        try:
            result = run_check(session, specs[check], provider.model_configs("chat")[0])
        finally:
            session.close()
        return result.status.value, result.message, result.requests

    with ExitStack() as stack:
        urls = [stack.enter_context(running_server(ServerConfig(api_key=KEY, quirks=quirks))) for _ in range(3)]
        providers = [reference_provider(url, KEY, name=f"p{i}") for i, url in enumerate(urls)]
        jobs = [(p, check, 20261125 + i) for i, p in enumerate(providers) for check in FUZZ_CHECKS]
        alone = [one(*job) for job in jobs]
        with ThreadPoolExecutor(len(jobs)) as pool:
            together = list(pool.map(lambda job: one(*job), jobs))
    assert together == alone
    if quirks:
        assert {status for status, _, _ in alone} == {"fail"}
