"""The token-cap rule: an answer our token cap cut gets no verdict, never a failure.

A model that never stops (a random-weight fixture, a model whose end-of-text token is missing, a
verbose reasoning model) has every answer cut at the suite's `max_tokens`. What the cut left out
says nothing about the provider, so a check that would fail such an answer for what it lacks or
for how it ends gives `error` "token cap reached" instead (checks/common.py,
`judged_unless_capped`). Wire faults a cut answer shows as well as a whole one stay failures, and
the checks whose subject is the cap (chat.max_tokens, chat.max_completion_tokens) judge cut answers.

Each case serves one synthetic answer to every chat request (as JSON or as an event stream,
whatever was asked) through an httpx MockTransport and runs one check on it: once cut
(finish_reason "length"), once whole (the natural finish). The reference server's `never_stops`
quirk proves the same rule end to end (quirks.yaml).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from conformance.catalog import load_catalog
from conformance.checks.base import Session, run_check
from conformance.providers import ModelConfig, Provider
from conformance.transport import ProviderClient

CAP = 64
MODEL = ModelConfig("synthetic", CAP, "max_tokens")
KEY = "sk-synthetic-test-4b7e2a9c1d"
PARIS = '{"city": "Paris"}'
CUT_ARGS = '{"city": "Pa'


@dataclass(frozen=True)
class Answer:
    """One assistant answer, served to every chat request: body or stream."""

    content: str | None = None
    calls: tuple[tuple[str, str], ...] = ()  # (function name, arguments as sent)
    finish: str | None = "stop"
    completion_tokens: int = 10
    usage_in_stream: bool = False

    def message(self) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": self.content, "refusal": None}
        if self.calls:
            message["tool_calls"] = [
                {"id": f"call_{i}", "type": "function", "function": {"name": name, "arguments": args}}
                for i, (name, args) in enumerate(self.calls)
            ]
        return message

    def usage(self) -> dict[str, int]:
        return {"prompt_tokens": 20, "completion_tokens": self.completion_tokens, "total_tokens": 20 + self.completion_tokens}

    def body(self, n: int) -> dict[str, Any]:
        choices = [{"index": i, "message": self.message(), "finish_reason": self.finish, "logprobs": None} for i in range(n)]
        return {"id": "chatcmpl-synthetic", "object": "chat.completion", "created": 1, "model": MODEL.name,
                "choices": choices, "usage": self.usage(), "system_fingerprint": None}

    def chunks(self) -> Iterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            return {"id": "chatcmpl-synthetic", "object": "chat.completion.chunk", "created": 1, "model": MODEL.name,
                    "system_fingerprint": None,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}

        yield chunk({"role": "assistant", "content": ""})
        for word in (self.content or "").split(" "):
            if word:
                yield chunk({"content": word + " "})
        for i, (name, args) in enumerate(self.calls):
            yield chunk({"tool_calls": [{"index": i, "id": f"call_{i}", "type": "function",
                                         "function": {"name": name, "arguments": ""}}]})
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": args}}]})
        if self.finish is not None:
            yield chunk({}, self.finish)
        if self.usage_in_stream:
            yield {"id": "chatcmpl-synthetic", "object": "chat.completion.chunk", "created": 1, "model": MODEL.name,
                   "choices": [], "usage": self.usage()}

    def respond(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET" and request.url.path.endswith("/models"):
            return httpx.Response(200, json={"object": "list", "data": [{"id": MODEL.name, "object": "model", "created": 0,
                                                                         "owned_by": "synthetic"}]})
        sent = json.loads(request.content or b"{}")
        if sent.get("stream"):
            events = "".join(f"data: {json.dumps(c)}\n\n" for c in self.chunks()) + "data: [DONE]\n\n"
            return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=events.encode())
        return httpx.Response(200, json=self.body(sent.get("n") or 1))


def verdict(check_id: str, answer: Answer) -> tuple[str, str]:
    """(status, message) of one check against a provider that always gives `answer`."""
    provider = Provider(
        name="synthetic", base_url="http://synthetic.invalid/v1", api_key_env="SYNTHETIC_KEY", api_key=KEY,
        models={"chat": (MODEL,), "tools": (MODEL,)},
    )
    session = Session(provider, client=ProviderClient(provider, transport=httpx.MockTransport(answer.respond)))
    try:
        result = run_check(session, load_catalog()[check_id], MODEL)
    finally:
        session.close()
    return result.status.value, result.message


def cut(answer: Answer) -> Answer:
    return Answer(answer.content, answer.calls, "length", CAP, answer.usage_in_stream)


def whole(answer: Answer) -> Answer:
    return Answer(answer.content, answer.calls, "tool_calls" if answer.calls else "stop", 10, answer.usage_in_stream)


UNFINISHED = "The sky is"
# check -> (an answer the cap could have cut short, the check's verdict on it when it ended by itself)
CUT_SHORT: dict[str, tuple[Answer, str]] = {
    "chat.system_message": (Answer(UNFINISHED), "fail"),
    "chat.developer_role": (Answer(UNFINISHED), "fail"),
    "chat.multi_turn": (Answer(UNFINISHED), "fail"),
    "chat.content_parts": (Answer(UNFINISHED), "fail"),
    "chat.unicode": (Answer("Repeat: Grüße, caf"), "fail"),
    "chat.stop": (Answer("1 2 3 4 5"), "pass"),
    "stream.reassembly": (Answer("1 2 3 4"), "fail"),
    "structured.json_object": (Answer('{"city": "Pa'), "fail"),
    "structured.json_schema": (Answer('{"city": "Paris", "temperature_c": 2'), "fail"),
    "tools.auto": (Answer("Let me look up the weather in"), "fail"),
    "tools.required": (Answer("Let me think about which"), "fail"),
    "tools.named": (Answer("Let me think about which"), "fail"),
    "tools.parallel": (Answer(None, (("get_weather", PARIS),)), "fail"),
    "tools.result_roundtrip": (Answer("The weather in Paris is"), "fail"),
    "tools.args_encoding": (Answer(None, (("get_weather", CUT_ARGS),)), "fail"),
    "tools.args_schema": (Answer(None, (("get_weather", CUT_ARGS),)), "fail"),
    "tools.finish_reason": (Answer(None, (("get_weather", PARIS),)), "pass"),
    "tools.stream_deltas": (Answer(None, (("get_weather", CUT_ARGS),)), "fail"),
}


@pytest.mark.parametrize("check_id", CUT_SHORT)
def test_an_answer_the_cap_cut_gets_no_verdict(check_id: str) -> None:
    answer, _ = CUT_SHORT[check_id]
    status, message = verdict(check_id, cut(answer))
    assert (status, message.split(":")[0]) == ("error", "token cap reached"), message
    assert re.search(r"was cut at max_tokens=\d+ \(finish_reason 'length'\)", message), message


@pytest.mark.parametrize("check_id", CUT_SHORT)
def test_the_same_answer_ended_by_the_model_is_judged(check_id: str) -> None:
    answer, expected = CUT_SHORT[check_id]
    status, message = verdict(check_id, whole(answer))
    assert status == expected, message


def test_a_stream_that_stopped_at_the_cap_without_a_finish_reason_counts_as_cut() -> None:
    endless = Answer("1 2 3 4", finish=None, completion_tokens=CAP, usage_in_stream=True)
    status, message = verdict("stream.reassembly", endless)
    assert status == "error" and message.startswith("token cap reached"), message
    short = Answer("1 2 3 4", finish=None, completion_tokens=8, usage_in_stream=True)
    assert verdict("stream.reassembly", short)[0] == "fail"


# Faults a cut answer shows as plainly as a whole one: the cut excuses none of them.
STILL_FAILS: dict[str, Answer] = {
    "chat.stop": Answer("1 2 3 4 5 6 7 8", finish="length", completion_tokens=CAP),  # ran past the stop text
    "tools.named": Answer(None, (("get_weather", PARIS),), "length", CAP),  # the wrong function
    "tools.none": Answer(None, (("get_weather", PARIS),), "length", CAP),  # a call although none was allowed
    "tools.args_encoding": Answer(None, (("get_weather", json.dumps(PARIS)),), "length", CAP),  # double-encoded
    "chat.max_tokens": Answer(" ".join(map(str, range(1, 51))), finish="length", completion_tokens=50),  # the cap's own check
}


@pytest.mark.parametrize("check_id", STILL_FAILS)
def test_a_fault_the_cut_did_not_cause_still_fails(check_id: str) -> None:
    status, message = verdict(check_id, STILL_FAILS[check_id])
    assert status == "fail", message


def test_the_cap_checks_pass_a_cut_answer_that_respects_the_cap() -> None:
    counted = Answer("1 2 3", finish="length", completion_tokens=5)
    assert verdict("chat.max_tokens", counted) == ("pass", "")
    assert verdict("chat.max_completion_tokens", counted)[0] == "pass"


def test_openai_python_refusing_a_cut_stream_is_not_a_finding() -> None:
    """The SDK's stream helper raises LengthFinishReasonError on any cut answer, by design; the
    replay compares its accumulated snapshot instead and says so."""
    status, message = verdict("client.openai_python", cut(Answer("Hello there, how are")))
    assert status == "pass", message
    status, message = verdict("client.openai_python", whole(Answer("Hello there.")))
    assert status == "pass", message
