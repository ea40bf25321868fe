"""client.openai_node: the official openai Node SDK replaying recorded responses.

Two sources of responses: a hand-made fake provider (an httpx MockTransport answering the six
probes the check replays), and the reference server, clean, under every quirk that breaks
openai-node and under some deviations it copes with. Tests that run node get the SDK the way
`conformance run` does (installed once into the user cache on first use) and skip with the
reason when that cannot be (no node, no npm). The install itself (once, under concurrency, on
failure) is tested with a stand-in `npm` on PATH in a scratch cache.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance.catalog import load_catalog
from conformance.checks import Session, client_node, run_check
from conformance.checks.base import NoVerdict
from conformance.providers import ModelConfig, Provider
from conformance.results import CheckResult, Status
from conformance.transport import ProviderClient



@pytest.fixture(scope="module")
def node_sdk() -> Path:
    """The pinned SDK, installed on first use as `conformance run` does; skip with the reason when it cannot be."""
    found = client_node.ensure_node_sdk(install=True)
    if isinstance(found, str):
        pytest.skip(found)
    return found


needs_node = pytest.mark.usefixtures("node_sdk")

CHAT = ModelConfig("fake-chat", 64, "max_tokens")
EMBED = ModelConfig("fake-embed", 64, "max_tokens")
VECTOR = [0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.05, -0.15]


def wire(status: int, body: Any, content_type: str = "application/json") -> httpx.Response:
    """A response as it comes off the network: a byte stream not yet read."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return httpx.Response(status, headers={"content-type": content_type}, stream=httpx.ByteStream(data))


@dataclass(frozen=True)
class FakeProvider:
    """Answers chat, streamed chat, tool calls and embeddings well, unless a switch says otherwise.

    The ways of breaking openai-node that the reference server has as quirks are tested there."""

    json_as_text: bool = False  # chat completions served as text/plain
    fail_tools: bool = False  # tool requests refused with 400

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        if request.url.path.endswith("/embeddings"):
            return wire(200, self._embeddings(body))
        if body.get("tools") and self.fail_tools:
            error = {"error": {"message": "tools are not supported", "type": "invalid_request_error", "param": "tools", "code": None}}
            return wire(400, error)
        if body.get("stream"):
            return wire(200, self._sse(body), "text/event-stream")
        return wire(200, self._chat(body), "text/plain" if self.json_as_text else "application/json")

    def _calls(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        text = body["messages"][-1]["content"]
        cities = [c for c in ("Paris", "Tokyo") if c in text]
        return [
            {"id": f"call_{i}", "type": "function", "function": {"name": "get_weather", "arguments": json.dumps({"city": c})}}
            for i, c in enumerate(cities)
        ]

    def _chat(self, body: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": "Hello there!"}
        finish = "stop"
        if body.get("tools"):
            message, finish = {"role": "assistant", "content": None, "tool_calls": self._calls(body)}, "tool_calls"
        return {
            "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
        }

    def _sse(self, body: dict[str, Any]) -> bytes:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-2", "object": "chat.completion.chunk", "created": 1, "model": body["model"],
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            }

        chunks = [chunk({"role": "assistant", "content": ""})]
        if body.get("tools"):
            for i, call in enumerate(self._calls(body)):
                args = call["function"]["arguments"]
                deltas = [
                    {"index": i, "id": call["id"], "type": "function", "function": {"name": "get_weather", "arguments": ""}},
                    {"index": i, "function": {"arguments": args[:5]}},
                    {"index": i, "function": {"arguments": args[5:]}},
                ]
                chunks += [chunk({"tool_calls": [delta]}) for delta in deltas]
            chunks.append(chunk({}, "tool_calls"))
        else:
            chunks += [chunk({"content": t}) for t in ("1", " 2", " 3")] + [chunk({}, "stop")]
        return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"

    def _embeddings(self, body: dict[str, Any]) -> dict[str, Any]:
        embedding: Any = VECTOR
        if body.get("encoding_format") == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(VECTOR)}f", *VECTOR)).decode()
        return {
            "object": "list", "model": body["model"],
            "data": [{"object": "embedding", "index": 0, "embedding": embedding}],
            "usage": {"prompt_tokens": 3, "total_tokens": 3},
        }


def run_on(handler: Any, *, tools: bool = True, embeddings: bool = True) -> CheckResult:
    models = {"chat": (CHAT,)}
    if tools:
        models["tools"] = (CHAT,)
    if embeddings:
        models["embeddings"] = (EMBED,)
    provider = Provider(name="fake", base_url="http://fake.invalid/v1", models=models)
    session = Session(provider, ProviderClient(provider, transport=httpx.MockTransport(handler)))
    try:
        return run_check(session, load_catalog()["client.openai_node"], CHAT)
    finally:
        session.close()


# ---------------------------------------------------------------- the packaging


def lockfile() -> dict[str, Any]:
    return json.loads((client_node.NODE_PACKAGE / "package-lock.json").read_text("utf-8"))


def test_the_sdk_is_pinned_to_one_exact_version_in_package_json_and_lockfile() -> None:
    pin = client_node.pinned_version()
    lock = lockfile()
    assert pin and pin[0].isdigit() and pin.count(".") == 2, f"not an exact version: {pin!r}"
    assert lock["packages"][""]["dependencies"]["openai"] == pin
    assert lock["packages"]["node_modules/openai"]["version"] == pin


# ---------------------------------------------------------------- verdicts on hand-made responses


@needs_node
def test_passes_when_every_response_is_well_formed() -> None:
    result = run_on(FakeProvider().handle)
    assert result.status is Status.PASS, result.message
    assert "chat_basic, chat_n, stream_basic, tools_auto, tools_parallel, tools_stream, emb_base64" in result.message
    assert any("openai-node" in note for note in result.evidence.notes)


@needs_node
def test_fails_when_a_completion_is_not_served_as_json() -> None:
    # openai-python parses the body whatever the content-type; openai-node hands the text over.
    result = run_on(FakeProvider(json_as_text=True).handle)
    assert result.status is Status.FAIL
    assert result.message.startswith(
        "openai-node on the chat_basic response (chat.completions.create): completion is string"
    )


@needs_node
def test_only_successful_responses_are_replayed() -> None:
    result = run_on(FakeProvider(fail_tools=True).handle)
    assert result.status is Status.PASS, result.message
    assert "tools_auto" not in result.message and "emb_base64" in result.message


def test_no_successful_response_is_no_verdict(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(client_node, "ensure_node_sdk", lambda install: tmp_path)
    result = run_on(lambda request: wire(500, {"error": {"message": "down"}}), tools=False, embeddings=False)
    assert result.status is Status.ERROR
    assert "nothing to replay through openai-node" in result.message and "HTTP 500" in result.message


# ---------------------------------------------------------------- when node cannot give a verdict


def test_skips_when_node_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_node.shutil, "which", lambda name: None)
    result = run_on(FakeProvider().handle)
    assert result.status is Status.SKIPPED
    assert "node not found" in result.message
    assert result.requests == 0


def test_skips_when_the_sdk_is_missing_and_npm_is_not_installed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(client_node.shutil, "which", lambda name: "/usr/bin/node" if name == "node" else None)
    result = run_on(FakeProvider().handle)
    assert result.status is Status.SKIPPED
    assert result.message == f"npm not found on PATH: install npm so openai-node {client_node.pinned_version()} can be installed on first use"


def test_skips_when_installing_is_turned_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("CONFORMANCE_NO_INSTALL", "1")
    monkeypatch.setattr(client_node.shutil, "which", lambda name: f"/usr/bin/{name}")
    result = run_on(FakeProvider().handle)
    assert result.status is Status.SKIPPED
    assert "is not installed in" in result.message and "turned off (--no-install, $CONFORMANCE_NO_INSTALL)" in result.message


# ---------------------------------------------------------------- installing the SDK on first use

# Stands in for npm (Python, so it needs nothing else on PATH): logs each call, takes a moment (so
# racers overlap), then installs a fake openai package, or fails like npm does when FAKE_NPM_FAIL is set.
FAKE_NPM = f"""#!{sys.executable}
import os, pathlib, sys, time
with open(os.environ["FAKE_NPM_LOG"], "a") as log:
    log.write(os.getcwd() + " " + " ".join(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_NPM_FAIL"):
    sys.exit("npm error code ETIMEDOUT")
time.sleep(0.3)
package = pathlib.Path("node_modules/openai")
package.mkdir(parents=True)
(package / "package.json").write_text('{{"name": "openai"}}')
"""


@pytest.fixture
def fake_npm(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A scratch cache and the stand-in npm first on PATH; returns npm's call log."""
    bin_dir, log = tmp_path / "bin", tmp_path / "npm.log"
    bin_dir.mkdir()
    # Only `which node` is asked here: node never runs in these tests.
    for name, script in (("npm", FAKE_NPM), ("node", "#!/bin/sh\nexit 1\n")):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("FAKE_NPM_LOG", str(log))
    monkeypatch.delenv("CONFORMANCE_NO_INSTALL", raising=False)
    return log


def cache_listing(tmp_path: Path) -> list[str]:
    return sorted(p.name for p in (tmp_path / "cache" / "openai-compat-conformance").iterdir())


def test_the_first_use_installs_the_pinned_sdk_once_into_the_user_cache(
    fake_npm: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = client_node.ensure_node_sdk(install=True)
    assert first == client_node.sdk_dir() and first.parent == tmp_path / "cache" / "openai-compat-conformance"
    assert re.fullmatch(r"node-[0-9a-f]{16}", first.name)
    assert (first / "package-lock.json").read_bytes() == (client_node.NODE_PACKAGE / "package-lock.json").read_bytes()
    notice = capsys.readouterr().err
    assert notice.count("\n") == 1 and f"installing openai-node {client_node.pinned_version()} once" in notice
    assert client_node.ensure_node_sdk(install=True) == first
    [call] = fake_npm.read_text().splitlines()
    assert call.endswith(" ci --no-audit --no-fund --ignore-scripts --engine-strict=false --loglevel=error")
    assert cache_listing(tmp_path) == [first.name, first.name + ".lock"]


def test_concurrent_first_runs_install_once(fake_npm: Path, tmp_path: Path) -> None:
    code = "from conformance.checks.client_node import ensure_node_sdk; print(ensure_node_sdk(True))"
    racers = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert {out.strip() for out, _ in outputs} == {str(client_node.sdk_dir())}, outputs
    assert len(fake_npm.read_text().splitlines()) == 1
    assert sum("installing openai-node" in err for _, err in outputs) == 1
    assert cache_listing(tmp_path) == [client_node.sdk_dir().name, client_node.sdk_dir().name + ".lock"]


def test_a_failed_install_is_the_reason_and_leaves_nothing_behind(
    fake_npm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_NPM_FAIL", "1")
    reason = client_node.ensure_node_sdk(install=True)
    assert isinstance(reason, str) and reason.startswith("could not install openai-node")
    assert "npm ci failed (exit 1): npm error code ETIMEDOUT" in reason
    assert cache_listing(tmp_path) == [client_node.sdk_dir().name + ".lock"]


def test_the_replay_script_is_placed_beside_the_sdk_under_its_content_hash(tmp_path: Path) -> None:
    placed = client_node.replay_script(tmp_path)
    assert placed.parent == tmp_path and re.fullmatch(r"replay-[0-9a-f]{12}\.mjs", placed.name)
    assert placed.read_bytes() == (client_node.NODE_PACKAGE / "replay.mjs").read_bytes()
    assert client_node.replay_script(tmp_path) == placed
    assert [p.name for p in tmp_path.iterdir()] == [placed.name]


@pytest.fixture
def fake_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Replace replay.mjs by a script the test writes."""
    script = tmp_path / "replay.mjs"
    monkeypatch.setattr(client_node, "replay_script", lambda sdk: script)
    yield script


@needs_node
def test_a_crashing_script_is_no_verdict_with_its_stderr(fake_script: Path) -> None:
    fake_script.write_text("process.stderr.write('boom: cannot load openai');\nprocess.exit(3);\n")
    result = run_on(FakeProvider().handle)
    assert result.status is Status.ERROR
    assert "crashed (exit 3)" in result.message and "boom: cannot load openai" in result.message


@needs_node
def test_a_hanging_script_is_no_verdict(fake_script: Path) -> None:
    fake_script.write_text("setTimeout(() => {}, 30000);\n")
    with pytest.raises(NoVerdict, match="did not finish within 0.5 s"):
        client_node.run_replay(b"{}", fake_script, timeout_s=0.5)


@needs_node
def test_output_that_is_not_json_is_no_verdict(fake_script: Path) -> None:
    fake_script.write_text("process.stdout.write('hello');\n")
    with pytest.raises(NoVerdict, match="printed no JSON"):
        client_node.run_replay(b"{}", fake_script)


def test_a_failing_control_replay_is_no_verdict_not_fail() -> None:
    output = {"node": "18.0.0", "sdk": "7.57.0", "control": {"ok": False, "error": "create: TypeError"}, "steps": []}
    with pytest.raises(NoVerdict, match="known-good replay failed"):
        client_node.replay_run(output)


def test_the_script_reports_versions_and_one_result_per_step(node_sdk: Path) -> None:
    provider = Provider(name="fake", base_url="http://fake.invalid/v1", models={"chat": (CHAT,)})
    client = ProviderClient(provider, transport=httpx.MockTransport(FakeProvider().handle))
    from conformance.probes import PROBES

    step = client_node.Step("chat_basic", "create", client.send(PROBES["chat_basic"](CHAT)))
    output = client_node.run_replay(client_node.payload([step]), client_node.replay_script(node_sdk))
    assert output["sdk"] == client_node.pinned_version()
    assert output["control"] == {"ok": True, "error": None}
    [only] = output["steps"]
    assert only["ok"] and only["observed"]["completion"]["choices"][0]["message"]["content"] == "Hello there!"
    assert only["observed"]["requests"][0]["path"] == "/v1/chat/completions"


# ---------------------------------------------------------------- the reference server and its quirks

# Quirk -> the first failure openai-node reports, one quirk per way openai-node breaks (the SSE
# JSON ones share one). The whole table (stream_single_newline, tools_empty_id,
# tools_stream_id_every_delta_changing and tools_stream_name_fragments break it too) is
# quirks.yaml's `breaks`, asserted with every other check by tests/test_quirks.py.
REFERENCE_BREAKS = {
    "stream_empty_data_event": "raised on the stream_basic response (chat.completions.create with stream: true): SyntaxError: Error reading response: malformed server-sent event JSON",
    "stream_keepalive_in_data": "raised on the stream_basic response (chat.completions.create with stream: true): SyntaxError: Error reading response: malformed server-sent event JSON",
    "stream_invalid_json": "raised on the stream_basic response (chat.completions.create with stream: true): SyntaxError: Error reading response: malformed server-sent event JSON",
    "stream_no_role": "raised on the stream_basic response (chat.completions.stream()): OpenAIError: missing role for choice 0",
    "stream_no_finish_reason": "raised on the stream_basic response (chat.completions.stream()): OpenAIError: missing finish_reason for choice 0",
    "stream_finish_every_chunk": "tools_stream response (chat.completions.stream()): 'tool_calls.function.arguments.done' for tool call 0 gave get_weather({)",
    "role_missing": "chat_basic response (chat.completions.create): message.role reaches the application as null",
    "tools_args_object": "tools_auto response (chat.completions.create): completion tool_calls[0].function.arguments reaches the application as object, not a string",
    "tools_type_missing": "tools_auto response (chat.completions.create): completion tool_calls[0].type is null",
    "tools_stream_no_index": "raised on the tools_stream response (chat.completions.stream()): OpenAIError: Chat completion stream contains an invalid tool call index: undefined",
    "embeddings_base64_float64": "emb_base64 response (embeddings.create): the SDK decoded 128 values from the base64 answer; the float vector has 64",
    "embeddings_nested": "emb_base64 response (embeddings.create): the SDK decoded 64 values from the base64 answer; the float vector has 1",
}
# Deviations openai-node copes with (other checks catch them), and the note saying how.
REFERENCE_TOLERATED = {
    "usage_float_tokens": None,  # 10.0 and 10 are the same JavaScript number
    "stream_error_event": "not replayed through openai-node: stream_basic (the provider reported an error mid-stream)",
    "embeddings_nondeterministic": None,  # the decoded vector is compared with the wire's own float32 values
}


@pytest.fixture(scope="module")
def reference_verdicts(node_sdk: Path) -> dict[str, CheckResult]:
    """client.openai_node on the clean reference server and under each quirk above, in parallel."""
    pytest.importorskip("conformance.reference.testing", reason="the reference server is not available")
    from concurrent.futures import ThreadPoolExecutor

    from conftest import reference

    from conformance.runner import run_provider

    def verdict(quirk: str) -> CheckResult:
        with reference((quirk,) if quirk else ()) as provider:
            [result] = run_provider(provider, check_ids=["client.openai_node"])
            return result

    names = ["", *REFERENCE_BREAKS, *REFERENCE_TOLERATED]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(names, pool.map(verdict, names)))


def test_passes_on_the_clean_reference_server(reference_verdicts: dict[str, CheckResult]) -> None:
    result = reference_verdicts[""]
    assert result.status is Status.PASS, result.message
    assert "11 calls on 7 responses" in result.message


@pytest.mark.parametrize("quirk", REFERENCE_BREAKS)
def test_fails_under_the_quirks_that_break_openai_node(reference_verdicts: dict[str, CheckResult], quirk: str) -> None:
    result = reference_verdicts[quirk]
    assert result.status is Status.FAIL, result.message
    assert REFERENCE_BREAKS[quirk] in result.message


@pytest.mark.parametrize("quirk", REFERENCE_TOLERATED)
def test_passes_under_deviations_openai_node_tolerates(reference_verdicts: dict[str, CheckResult], quirk: str) -> None:
    result = reference_verdicts[quirk]
    assert result.status is Status.PASS, result.message
    note = REFERENCE_TOLERATED[quirk]
    assert note is None or any(note in n for n in result.evidence.notes), result.evidence.notes


def test_runtools_reports_arguments_it_cannot_hand_over_as_a_string(reference_verdicts: dict[str, CheckResult]) -> None:
    notes = reference_verdicts["tools_args_object"].evidence.notes
    assert any("runTools() handed the get_weather parser arguments of type object" in n for n in notes), notes


# ---------------------------------------------------------------- conformance run and the install


def run_node_check(cwd: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """`conformance run` of client.openai_node on the packaged reference provider."""
    command = [sys.executable, "-m", "conformance.cli", "run", "--only", "reference", "--check", "client.openai_node",
               "--out", "out", *extra]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=600)


def node_check_result(cwd: Path) -> dict[str, Any]:
    [result] = json.loads((cwd / "out" / "results.json").read_text(encoding="utf-8"))["results"]
    return result


def test_run_no_install_skips_the_check_and_installs_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    run_node_check(tmp_path, "--no-install")
    result = node_check_result(tmp_path)
    assert result["status"] == "skipped"
    assert "--no-install" in result["message"] or "node not found" in result["message"]
    assert not (tmp_path / "cache").exists()


def test_run_installs_before_pytest_starts_so_the_notice_is_seen(fake_npm: Path, tmp_path: Path) -> None:
    proc = run_node_check(tmp_path)
    assert proc.stderr.count("conformance: installing openai-node") == 1, proc.stderr
    assert len(fake_npm.read_text().splitlines()) == 1
    assert client_node.ensure_node_sdk(install=False) == client_node.sdk_dir()


def test_run_with_a_bad_providers_file_installs_nothing(fake_npm: Path, tmp_path: Path) -> None:
    (tmp_path / "providers.yaml").write_text("providers: [\n", encoding="utf-8")
    proc = run_node_check(tmp_path, "--providers", "providers.yaml")
    assert proc.returncode == 2 and "installing" not in proc.stderr
    assert not fake_npm.exists()
