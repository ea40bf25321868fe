"""The client area's one shape: one replay plan, one set of comparators, a thin runner per library.

The comparators judge plain JSON, whatever library produced it, so the same observation gets the
same problems from every library (save what a library's own helpers insist on, such as
openai-node's tool-call types); each library replays the plan's calls it has.
"""

from __future__ import annotations

import json
from typing import Any

from conformance.checks.client_node import NODE
from conformance.checks.client_python import PYTHON, replay_in_python
from conformance.checks.sdk_replay import COMPARE, PLAN, Library, Step, StepResult, findings
from conformance.transport import Exchange

WIRE_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
COMPLETION = {
    "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                 "message": {"role": "assistant", "content": None, "tool_calls": [WIRE_CALL]}}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
}


def recorded(body: dict[str, Any]) -> Exchange:
    request = {"model": "m", "messages": [{"role": "user", "content": "weather?"}]}
    return Exchange("POST", "http://p.invalid/v1/chat/completions", {}, request, status=200,
                    headers={"content-type": "application/json"}, body=json.dumps(body).encode())


def handed_over(**call: Any) -> dict[str, Any]:
    """The completion as a library handed it to the application, with the tool call changed."""
    message = {**COMPLETION["choices"][0]["message"], "tool_calls": [{**WIRE_CALL, **call}]}
    return {"completion": {**COMPLETION, "choices": [{**COMPLETION["choices"][0], "message": message}]}}


def problems(library: Library, observed: dict[str, Any]) -> list[str]:
    step = Step("tools_auto", "create", recorded(COMPLETION))
    return findings(library, [step], (StepResult(True, observed=observed),))


def test_the_plan_is_one_and_each_library_replays_the_calls_it_has() -> None:
    planned = {call for replay in PLAN for call in replay.calls}
    assert set(COMPARE) == planned  # every call of the plan has its comparator, and only those
    sdk_calls = {"create", "create_stream", "stream_helper", "run_tools", "embeddings"}
    assert set(NODE.calls) == sdk_calls
    assert set(PYTHON.calls) == sdk_calls - {"run_tools"} | {"models", "error"}  # openai-python has no tool runner


def test_a_faithful_observation_has_no_problem_in_any_library() -> None:
    assert problems(NODE, handed_over()) == problems(PYTHON, handed_over()) == []


def test_the_same_observation_gets_the_same_problem_from_every_library() -> None:
    observed = handed_over(function={"name": "get_weather", "arguments": {"city": "Paris"}})
    node, python = problems(NODE, observed), problems(PYTHON, observed)
    assert node == [p.replace("openai-python", "openai-node") for p in python]
    assert "tool_calls[0].function.arguments reaches the application as object, not a string" in node[0]


def test_tool_call_types_are_judged_only_for_a_library_whose_helpers_read_them() -> None:
    observed = handed_over(type=None)
    assert problems(PYTHON, observed) == []
    assert "tool_calls[0].type is null" in problems(NODE, observed)[0]


def test_the_python_runner_reports_what_the_sdk_hands_over_as_plain_json() -> None:
    [result] = replay_in_python([Step("tools_auto", "create", recorded(COMPLETION))]).results
    assert result.ok and result.observed["completion"]["choices"][0]["message"]["tool_calls"][0] == WIRE_CALL


def test_a_python_sdk_exception_is_the_steps_error() -> None:
    broken = recorded(COMPLETION)
    broken.status, broken.headers = 500, {"content-type": "text/html"}
    [result] = replay_in_python([Step("chat_basic", "create", broken)]).results
    assert not result.ok and result.error is not None and result.error.startswith("InternalServerError")
