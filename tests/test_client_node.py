"""client.openai_node: the official openai Node SDK replaying recorded responses.

Two sources of responses: a hand-made fake provider (an httpx MockTransport answering the six
probes the check replays), and the reference server, clean, under every quirk that breaks
openai-node and under some deviations it copes with. Tests that run node skip with the
reason when node is missing or `npm ci` has not been run in conformance/clients/node.
"""

from __future__ import annotations

import base64
import json
import struct
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

needs_node = pytest.mark.skipif(client_node.node_unavailable() is not None, reason=str(client_node.node_unavailable()))

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


def test_the_sdk_is_pinned_to_one_exact_version_in_package_json_and_lockfile() -> None:
    pin = client_node.pinned_version()
    lock = json.loads((client_node.NODE_DIR / "package-lock.json").read_text("utf-8"))
    assert pin and pin[0].isdigit() and pin.count(".") == 2, f"not an exact version: {pin!r}"
    assert lock["packages"][""]["dependencies"]["openai"] == pin
    assert lock["packages"]["node_modules/openai"]["version"] == pin


# ---------------------------------------------------------------- verdicts on hand-made responses


@needs_node
def test_passes_when_every_response_is_well_formed() -> None:
    result = run_on(FakeProvider().handle)
    assert result.status is Status.PASS, result.message
    assert "chat_basic, stream_basic, tools_auto, tools_parallel, tools_stream, emb_base64" in result.message
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


def test_no_successful_response_is_no_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_node, "node_unavailable", lambda: None)
    result = run_on(lambda request: wire(500, {"error": {"message": "down"}}), tools=False, embeddings=False)
    assert result.status is Status.ERROR
    assert "no successful response" in result.message


# ---------------------------------------------------------------- when node cannot give a verdict


def test_skips_when_node_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_node.shutil, "which", lambda name: None)
    result = run_on(FakeProvider().handle)
    assert result.status is Status.SKIPPED
    assert "node not found" in result.message
    assert result.requests == 0


def test_skips_when_npm_ci_has_not_been_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(client_node.shutil, "which", lambda name: "/usr/bin/node")
    monkeypatch.setattr(client_node, "NODE_DIR", tmp_path)
    result = run_on(FakeProvider().handle)
    assert result.status is Status.SKIPPED
    assert "run `npm ci` in conformance/clients/node" in result.message


@pytest.fixture
def fake_script(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Replace replay.mjs by a script the test writes."""
    script = tmp_path / "replay.mjs"
    monkeypatch.setattr(client_node, "SCRIPT", script)
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
        client_node.run_replay(b"{}", timeout_s=0.5)


@needs_node
def test_output_that_is_not_json_is_no_verdict(fake_script: Path) -> None:
    fake_script.write_text("process.stdout.write('hello');\n")
    with pytest.raises(NoVerdict, match="printed no JSON"):
        client_node.run_replay(b"{}")


def test_a_failing_control_replay_is_no_verdict_not_fail() -> None:
    output = {"node": "18.0.0", "sdk": "7.57.0", "control": {"ok": False, "error": "create: TypeError"}, "steps": []}
    with pytest.raises(NoVerdict, match="known-good replay failed"):
        client_node.findings([], output)


@needs_node
def test_the_script_reports_versions_and_one_result_per_step() -> None:
    provider = Provider(name="fake", base_url="http://fake.invalid/v1", models={"chat": (CHAT,)})
    client = ProviderClient(provider, transport=httpx.MockTransport(FakeProvider().handle))
    from conformance.probes import PROBES

    step = client_node.Step("chat_basic", "create", client.send(PROBES["chat_basic"](CHAT)))
    output = client_node.run_replay(client_node.payload([step]))
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
def reference_verdicts() -> dict[str, CheckResult]:
    """client.openai_node on the clean reference server and under each quirk above, in parallel."""
    if client_node.node_unavailable():
        pytest.skip(str(client_node.node_unavailable()))
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
    assert "10 SDK calls on 6 responses" in result.message


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
