"""The client-library replays: the loopback replay server, the workers, the normalised comparators,
environments and skips, and the measured table the catalog's levels follow.

The library environments themselves are exercised by the quirk table (tests/test_quirks.py, which
asserts data/client_impact.yaml mode by mode). Here a test adapter over the suite's own
openai-python (tests/fake_client/lib_fake.py) stands in for a library, so the machinery is proven
on any machine: the same harness, worker, replay server and comparators.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

import pytest

from conformance import client_envs, client_impact, replay
from conformance.catalog import load_catalog
from conformance.checks import client_libs
from conformance.reference.quirks import load_quirks
from conformance.runner import run_provider
from conformance.transport import Exchange

from conftest import REF_KEY, reference, reference_provider
from counting_server import KEY, counting_server

FAKE = Path(__file__).parent / "fake_client"
HARNESS = str(client_envs.CLIENTS / "python" / "harness.py")
CHECK = "client.langchain"  # the fake worker stands in for this library's


@pytest.fixture
def fake_worker(monkeypatch):
    """client.langchain answered by the test adapter (openai-python in this process's Python)."""
    monkeypatch.setenv("PYTHONPATH", str(FAKE))
    w = replay.Worker([sys.executable, HARNESS, "fake"], FAKE)
    monkeypatch.setattr(client_libs, "library_worker", lambda spec: (w, w.hello()))
    yield w
    w.stop()


def _run(quirks=(), checks=(CHECK,)):
    with reference(tuple(quirks)) as provider:
        return {r.check: r for r in run_provider(provider, check_ids=checks)}


def test_clean_replay_passes_with_versions_and_every_call(fake_worker) -> None:
    result = _run()[CHECK]
    assert result.status.value == "pass", result.message
    assert "openai " in result.message and "Python 3." in result.message
    for probe in ("models_list", "chat_basic", "stream_usage", "tools_auto", "json_schema", "emb_single"):
        assert probe in result.message


@pytest.mark.parametrize("quirk, needle", [
    ("tools_args_object", "tools_auto"),              # arguments as an object: json.loads raises
    ("embeddings_base64_float64", "numbers"),         # float64 base64: twice as many numbers
    ("models_unlisted", "listed"),                    # (the ids listed are the wire's: still pass)
])
def test_deviations_reach_the_comparators(fake_worker, quirk, needle) -> None:
    result = _run((quirk,))[CHECK]
    if quirk == "models_unlisted":  # a wrong list read faithfully is the models checks' finding, not a client's
        assert result.status.value == "pass", result.message
        return
    assert result.status.value == "fail", result.message
    assert needle in result.message


@pytest.mark.parametrize("quirk", [q.name for q in load_quirks() if q.kind == "benign"])
def test_legal_variations_pass(fake_worker, quirk) -> None:
    result = _run((quirk,))[CHECK]
    assert result.status.value == "pass", (quirk, result.message)


def test_replays_send_nothing_to_the_provider(fake_worker) -> None:
    """Counted at the server: the client check adds no request to those its probes need."""
    from conformance.checks.sdk_replay import PLAN

    calls = fake_worker.hello().calls
    mine = [r for r in PLAN if set(r.calls) & set(calls)]
    probes_needed = {r.probe for r in mine} | {p for r in mine for p in (r.then, r.base64, r.floats) if p}
    with counting_server("count") as server:
        provider = reference_provider(server.base_url, KEY)
        run_provider(provider, check_ids=[CHECK])
        paths = [path for _, path, _ in server.counts.received]
    # one request per probe the plan reads, never a second: the replays went to the loopback server
    assert len(paths) == len(probes_needed), paths


def test_a_hang_is_a_failure_and_the_worker_restarts(fake_worker) -> None:
    ex = Exchange(method="POST", url="http://x/v1/chat/completions", request_headers={}, request_body=None, status=200,
                  headers={"content-type": "application/json"}, body=b"{}")
    server = replay.replay_server("test-hang")
    step = {"call": "chat", "base_url": server.base_url(), "api_key": "k", "model": "m",
            "request": {"model": "m", "messages": [{"role": "user", "content": "HANG"}]}, "timeout_s": 5}
    with server.serving(replay.ServedStep([ex])):
        out = fake_worker.step(step, timeout=1.0)
    assert out["ok"] is False and out.get("hung") and "no answer within 1 s" in out["error"]
    assert fake_worker.hello().versions["openai"]  # a fresh worker answers again


def test_a_library_that_cannot_import_is_reported(monkeypatch, tmp_path) -> None:
    (tmp_path / "lib_broken.py").write_text("import no_such_package_here\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    w = replay.Worker([sys.executable, HARNESS, "broken"], tmp_path)
    with pytest.raises(replay.WorkerError, match="no_such_package_here"):
        w.hello()


def test_library_prints_never_reach_the_protocol(monkeypatch, tmp_path) -> None:
    (tmp_path / "lib_noisy.py").write_text(
        "import os\nprint('noise at import')\nos.write(1, b'raw noise\\n')\n"
        "def versions():\n    return {}\n"
        "def chat(step):\n    print('noise in a call')\n    return {'text': 'x'}\n"
        "CALLS = {'chat': chat}\n"
    )
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    w = replay.Worker([sys.executable, HARNESS, "noisy"], tmp_path)
    try:
        assert w.hello().calls == {"chat": "chat"}
        assert w.step({"call": "chat"}, timeout=30) == {"ok": True, "observed": {"text": "x"}}
    finally:
        w.stop()


def test_replay_server_serves_the_current_step_at_any_path_and_records_requests() -> None:
    def exchange(body: bytes) -> Exchange:
        return Exchange(method="POST", url="u", request_headers={}, request_body=None, status=200,
                        headers={"content-type": "application/json", "x-vendor": "kept"}, body=body)

    first, second, b64 = exchange(b'{"a":1}'), exchange(b'{"b":2}'), exchange(b'{"c":3}')
    server = replay.replay_server("test-serve")
    assert server.base_url("/api/v1/") == f"http://127.0.0.1:{server.port}/api/v1"

    def post(path: str, body: dict) -> bytes:
        req = urllib.request.Request(server.base_url() + path, data=json.dumps(body).encode(),
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["x-vendor"] == "kept"
            return resp.read()

    with server.serving(replay.ServedStep([first, second])) as turn:
        assert post("/chat/completions", {"n": 1}) == b'{"a":1}' and post("/elsewhere", {"n": 2}) == b'{"b":2}'
        assert post("/chat/completions", {"n": 3}) == b'{"b":2}'  # later follow-ups get the last exchange
    assert [r["served"] for r in turn.requests] == ["first", "followup", "followup"]
    assert turn.requests[1]["body"] == {"n": 2} and turn.requests[0]["path"] == "/v1/chat/completions"
    with server.serving(replay.ServedStep([first], base64=b64)):
        assert post("/embeddings", {"encoding_format": "base64"}) == b'{"c":3}' and post("/embeddings", {}) == b'{"a":1}'
    with pytest.raises(urllib.error.HTTPError) as err:  # between steps: nothing is served
        post("/chat/completions", {})
    assert err.value.code == 404
    with server.serving(replay.ServedStep([first], base_path="/api/v1")) as outside:
        with pytest.raises(urllib.error.HTTPError) as err:  # outside the provider's base path: 404, as there
            post("/models", {})
    assert err.value.code == 404 and outside.requests[0]["served"] == "404"


def test_not_installed_is_skipped_with_the_install_command(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    results = _run(checks=tuple(s.check for s in client_envs.libraries()))
    for spec in client_envs.libraries():
        assert results[spec.check].status.value == "skipped"
        assert f"conformance clients install {spec.name}" in results[spec.check].message


def test_env_dir_follows_the_pins(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    spec = client_envs.library("langchain")
    path = client_envs.env_dir(spec)
    assert path.parent == tmp_path / "openai-compat-conformance" / "clients" and path.name.startswith("langchain-")
    assert client_envs.installed(spec) is None


def test_every_library_has_its_pins_adapter_and_check() -> None:
    catalog = load_catalog()
    for spec in client_envs.libraries():
        assert spec.check in catalog
        if spec.runtime == "python":
            assert (client_envs.CLIENTS / "pins" / f"{spec.name}.txt").is_file()
            assert (client_envs.CLIENTS / "python" / f"lib_{spec.name}.py").is_file()
        else:
            assert (client_envs.CLIENTS / spec.name / "package-lock.json").is_file()


# ---------------------------------------------------------------- the measured table and the levels


def test_the_table_covers_every_mode_and_the_clean_server() -> None:
    modes = client_impact.load_table()["modes"]
    assert set(modes) == {client_impact.CLEAN} | {q.name for q in load_quirks()}
    assert modes[client_impact.CLEAN] == {}
    clients = set(client_impact.client_checks())
    assert all(set(v) <= clients for v in modes.values())


def test_levels_follow_the_measured_table() -> None:
    """`must` is reserved for checks some deviation of which breaks at least one library or official
    SDK (optional features are `may`; the client checks themselves are the measure), and a check
    whose level rests on the table says so in its rationale."""
    unfounded = []
    for spec in load_catalog().checks:
        if spec.area == "client" or spec.level.value != "must":
            continue
        if not client_impact.must_allowed(spec.id):
            unfounded.append(f"{spec.id} is must; evidence: {client_impact.level_evidence(spec.id)}")
    assert unfounded == []
    cited = [s.id for s in load_catalog().checks if "Measured" in s.rationale]
    assert len(cited) >= 10


def test_readme_shows_the_measured_table() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text("utf-8")
    block = readme.split(client_impact.README_START, 1)[1].split(client_impact.README_END, 1)[0]
    assert block.strip() == client_impact.render_markdown(client_impact.load_table()["modes"]).strip()


def test_a_call_is_spelled_up_to_what_it_reads_so_reports_can_find_the_step() -> None:
    """The worker names a call by its docstring's first line up to a ": " outside brackets; the
    report's step parser then reads "(<call>): <text>" back whole."""
    import importlib.util

    from conformance.report.clients import parse_step

    spec = importlib.util.spec_from_file_location("harness", HARNESS)
    harness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(harness)
    assert harness.call_part("ChatOpenAI(...).invoke(messages): .text, .usage_metadata") == "ChatOpenAI(...).invoke(messages)"
    assert harness.call_part('E(kw={"a": 1}).embed: vectors') == 'E(kw={"a": 1}).embed'
    call = harness.call_part('E(kw={"a": 1}).embed(texts): the vectors')
    step = parse_step(f"LangChain raised on the emb_single response ({call}): ValueError: boom", "LangChain")
    assert step is not None and step.probe == "emb_single" and step.call == call and step.detail == "ValueError: boom"
