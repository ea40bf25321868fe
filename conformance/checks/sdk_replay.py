"""The client area's one shape: recorded responses replayed through a client library, judged against the wire.

A `client.*` check asks what an official SDK makes of the responses the suite already has: the
recorded 2xx exchanges are served to the library (no network, no token cost) while the
application-level call that reads them runs, and what the library hands to application code is
compared with what the wire says. The pieces, each defined once here:

- `PLAN`: which probe is replayed through which SDK call (a library replays the calls it has):

      chat_basic, chat_n   create          the completion
      stream_basic         create_stream   the chunks, as iterated
                           stream_helper   the SDK's stream accumulator: events, final completion
      tools_auto,          create
      tools_parallel       run_tools       the SDK's tool runner (non-streaming): what it hands the
                                           application's functions and what it sends back
      tools_stream         create_stream, stream_helper
      emb_base64           embeddings      the SDK's default request (base64) decoded to numbers,
                                           judged with the float answer emb_single beside it

- `Library`: a library's name, the calls it has and how it spells them, and what its helpers
  insist on (the tool-call types they accept, if they look).
- A runner per library (checks/client_python.py in-process, checks/client_node.py through
  replay.mjs) turns steps into a `ReplayRun`: per step, whether the call raised, and what it
  observed as plain JSON, in the shapes listed at `COMPARE`. An observation a library cannot
  make is left out and so not judged.
- The comparators: text, tool calls (id, name, type, arguments), usage, stream chunks and
  events, the decoded vector; each returns problems in "received ... / the wire ..." terms.
- `replay_check`: the check itself (plan, run, notes, first problem as the failure).

Adding a library is a module with a `Library` and a runner. Not replayed (and said so in a note):
non-2xx answers, streams the provider ended with an in-stream error event (an SDK rightly raises
on those; errors.* judges them), and a tool runner on an answer the token cap cut (the SDKs refuse
those by design, whoever sent them).
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import math
from urllib.parse import urlsplit
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.checks.base import Context, Fail, NoVerdict
from conformance.checks.common import cut_at_cap, excerpt, text_of
from conformance.checks.embeddings import decode_base64_f32
from conformance.checks.responses import items_of, output_text
from conformance.checks.tools import accumulate_tool_calls
from conformance.transport import Exchange


@dataclass(frozen=True)
class Replay:
    """One step kind of the plan: the probe it serves, the calls that read it, and its companions."""

    capability: str
    probe: str
    calls: tuple[str, ...]
    floats: str | None = None  # embeddings: the float answer the decoded vector is measured against
    then: str | None = None  # a second turn: the response served to the library's follow-up request
    base64: str | None = None  # embeddings: served instead when the library asks for base64


PLAN: tuple[Replay, ...] = (
    Replay("chat", "models_list", ("models",)),
    Replay("chat", "chat_basic", ("create", "chat")),
    Replay("chat", "chat_n", ("create",)),
    Replay("chat", "stream_basic", ("create_stream", "stream_helper")),
    Replay("chat", "stream_usage", ("chat_stream",)),
    Replay("tools", "tools_auto", ("create", "run_tools", "tools", "extract_tool")),
    Replay("tools", "tools_auto", ("tool_turn",), then="tools_result"),
    Replay("tools", "tools_parallel", ("create", "run_tools")),
    Replay("tools", "tools_stream", ("create_stream", "stream_helper", "tools_stream")),
    Replay("chat", "json_schema", ("structured",)),
    Replay("embeddings", "emb_base64", ("embeddings",), floats="emb_single"),
    Replay("embeddings", "emb_single", ("embed_float",)),
    Replay("embeddings", "emb_single", ("embed_default",), base64="emb_base64"),
    Replay("chat", "resp_basic", ("agent_run",)),
    Replay("chat", "resp_stream", ("agent_stream",)),
    Replay("tools", "resp_tools", ("agent_tools",), then="resp_tool_result"),
    Replay("chat", "err_auth", ("error",)),  # (not err_bad_request: no library sends its malformed request)
    Replay("chat", "err_unknown_model", ("error",)),
)
ERROR_CALLS = frozenset({"error"})  # calls replayed on error answers (the others on 2xx answers only)
# Calls that hand a tool call to application code to run, or parse a whole answer: an answer the
# token cap cut is refused by design (whoever sent it), so they are not replayed on one.
NEEDS_WHOLE_ANSWER = frozenset({"run_tools", "tool_turn", "structured", "extract_tool", "agent_run", "agent_stream",
                                "agent_tools"})  # (agents refuse an incomplete Response: ModelBehaviorError, SK's AgentInvokeException)


@dataclass(frozen=True)
class Library:
    """A client library the responses are replayed through."""

    name: str  # as shown: "openai-node"
    calls: Mapping[str, str]  # the PLAN calls it replays -> how the library spells each
    tool_call_types: tuple[str, ...] | None = None  # what its helpers accept as a tool call's type; None: never read


@dataclass(frozen=True)
class Step:
    """One library call to replay: the probe whose response it serves, and its companions."""

    probe: str
    call: str
    exchange: Exchange
    floats: Exchange | None = None
    then: Exchange | None = None
    base64: Exchange | None = None

    def params(self) -> dict[str, Any]:
        """The request the SDK call is made with: the probe's, minus `stream` (the call decides)."""
        body = dict(self.exchange.request_body) if isinstance(self.exchange.request_body, dict) else {}
        body.pop("stream", None)
        return body


@dataclass(frozen=True)
class StepResult:
    """What one SDK call did: raised (`error`), or handed over `observed` (plain JSON)."""

    ok: bool
    error: str | None = None
    observed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReplayRun:
    """A library's answer to a list of steps: one result per step, in order."""

    version: str
    runtime: str  # e.g. "node 22.1.0", "Python 3.11.9"
    results: tuple[StepResult, ...]
    notes: tuple[str, ...] = ()


Runner = Callable[[list[Step]], ReplayRun]


def not_replayable(ex: Exchange) -> str | None:
    """Why an exchange is not replayed (None: it is)."""
    if ex.status is None or ex.error:
        return ex.error or "no response"
    if not ex.ok:
        return f"HTTP {ex.status}"
    if ex.stream_requested and ex.stream.error_event is not None:
        # The provider declined mid-stream, the OpenAI way; the SDK raising on it is right.
        return "the provider reported an error mid-stream"
    return None


def _cut(ex: Exchange) -> bool:
    """The answer ended at the token cap (chat: finish_reason length; a Response, streamed or not:
    status incomplete)."""
    if urlsplit(ex.url).path.endswith("/responses"):
        return _response_body(ex).get("status") == "incomplete"
    return cut_at_cap(ex)


def _no_tool_turn(first: Exchange, then: Exchange) -> str | None:
    """Why a tool turn cannot be replayed (None: it can). A first answer without a tool call has
    nothing to run (the `tools` calls judge it); a follow-up that calls tools again shows a provider
    that lost the results (tools.result judges that), and any library would loop on it."""
    if not _calls_tools(first):
        return "the answer called no tool"
    if _calls_tools(then):
        return "the answer to the tool results called tools again"
    return None


def _calls_tools(ex: Exchange) -> bool:
    """The answer holds a tool call (chat) or a function_call item (a Response)."""
    body = ex.json_body
    if isinstance(body, dict) and body.get("object") == "response":
        return bool(items_of(body, "function_call"))
    return bool(_wire_calls(ex))


def not_an_error_answer(ex: Exchange) -> str | None:
    """Why an exchange is not replayed as an error answer (None: it is one, 4xx or 5xx)."""
    if ex.status is None or ex.error:
        return ex.error or "no response"
    if ex.ok:
        return f"HTTP {ex.status}: not an error answer (errors.* judge that)"
    return None


def plan(ctx: Context, library: Library) -> list[Step]:
    """The SDK calls to replay, from the probes the suite already has (successful ones only).

    What is left out, and why, goes into the notes."""
    steps: list[Step] = []
    skipped: list[str] = []
    for replay in PLAN:
        calls = tuple(c for c in replay.calls if c in library.calls)
        if not calls or not ctx.provider.model_configs(replay.capability):
            continue
        model = ctx.model_for(replay.capability)
        ex = ctx.probe(replay.probe, model)
        companions = {k: ctx.probe(p, model) for k in ("floats", "then", "base64") if (p := getattr(replay, k))}
        if set(calls) <= ERROR_CALLS:
            reason = not_an_error_answer(ex)
        else:
            reason = not_replayable(ex) or next(filter(None, map(not_replayable, companions.values())), None)
        if reason:
            skipped.append(f"{replay.probe} ({excerpt(reason, 80)})")
            continue
        turn = _no_tool_turn(ex, companions["then"]) if replay.then else None
        if turn:
            skipped += [f"{replay.probe} {library.calls[c]} ({turn})" for c in calls]
            continue
        whole = [c for c in calls if c in NEEDS_WHOLE_ANSWER]
        if whole and _cut(ex):
            # A tool runner or a parser refuses an answer cut at the cap (openai's
            # LengthFinishReasonError) whoever sent it: that says nothing about the provider.
            calls = tuple(c for c in calls if c not in whole)
            skipped += [f"{replay.probe} {library.calls[c]} (the answer was cut at our token cap)" for c in whole]
        steps.extend(Step(replay.probe, call, ex, **companions) for call in calls)
    if skipped:
        ctx.note(f"not replayed through {library.name}: " + "; ".join(skipped))
    return steps


def replay_check(ctx: Context, library: Library, runner: Runner) -> str:
    """The check: replay the plan through the library, fail on the first problem (the rest as notes)."""
    steps = plan(ctx, library)
    if not steps:
        why = next((n.split(": ", 1)[1] for n in reversed(ctx.notes) if n.startswith("not replayed through")), "")
        raise NoVerdict(f"nothing to replay through {library.name}" + (f": {why}" if why else ""))
    run = runner(steps)
    if len(run.results) != len(steps):
        raise NoVerdict(f"the {library.name} replay answered {len(run.results)} of {len(steps)} steps")
    for note in run.notes:
        ctx.note(note)
    lines = step_findings(library, steps, run.results)
    if any(lines):
        _failing_first(ctx, [s for s, line in zip(steps, lines) if line], lines)
        lines = [line for line in lines if line]
        for line in lines[1:10]:
            ctx.note(f"also: {line}")
        more = f" (+{len(lines) - 1} more calls failed, see notes)" if len(lines) > 1 else ""
        raise Fail(lines[0] + more)
    probes = list(dict.fromkeys(s.probe for s in steps))
    return (
        f"{library.name} {run.version} ({run.runtime}): {len(steps)} calls on {len(probes)} responses "
        f"passed: {', '.join(probes)}"
    )


def _failing_first(ctx: Context, failing: list[Step], lines: list[str]) -> None:
    """The evidence keeps the first exchanges a check used: put those the failing calls read first."""
    first = [ex for step in failing for ex in (step.exchange, step.then, step.base64, step.floats) if ex is not None]
    order: dict[int, Exchange] = {}
    for ex in [*first, *ctx.used]:
        order.setdefault(id(ex), ex)
    ctx.used[:] = list(order.values())


def findings(library: Library, steps: list[Step], results: tuple[StepResult, ...]) -> list[str]:
    """Every problem, one line per SDK call that went wrong ("<library> ... on the <probe> response ...")."""
    return [line for line in step_findings(library, steps, results) if line]


def step_findings(library: Library, steps: list[Step], results: tuple[StepResult, ...]) -> list[str]:
    """One line per step, "" where the call went right."""
    lines = []
    for step, result in zip(steps, results):
        where = f"the {step.probe} response ({library.calls[step.call]})"
        if not result.ok:
            lines.append(f"{library.name} raised on {where}: {excerpt(result.error, 400)}")
            continue
        problems = COMPARE[step.call](step, result.observed, library)
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        lines.append(f"{library.name} on {where}: {problems[0]}{more}" if problems else "")
    return lines


# ---------------------------------------------------------------- the wire, read once


def _wire_message(ex: Exchange) -> dict[str, Any]:
    body = ex.json_body
    try:
        message = body["choices"][0]["message"]
    except (TypeError, KeyError, IndexError):
        return {}
    return message if isinstance(message, dict) else {}


def _wire_calls(ex: Exchange) -> list[dict[str, Any]]:
    calls = _wire_message(ex).get("tool_calls")
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def _fn(call: Any) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    return fn if isinstance(fn, dict) else {}


def _streamed_wire_calls(ex: Exchange) -> list[tuple[Any, Any, Any]]:
    calls, _ = accumulate_tool_calls(ex.stream)
    return [(c.ids[0] if c.ids else None, c.names[0] if c.names else None, c.arguments) for c in calls]


def _first_embedding(ex: Exchange | None) -> Any:
    body: Any = ex.json_body if ex is not None else None
    try:
        return body["data"][0]["embedding"]
    except (TypeError, KeyError, IndexError):
        return None


def _js_type(value: Any) -> str:
    """The JSON (JavaScript) name of a value's type, as the application sees it."""
    if value is None:
        return "null"
    for py, js in ((bool, "boolean"), (str, "string"), ((int, float), "number"), (dict, "object"), (list, "array")):
        if isinstance(value, py):
            return js
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as JSON, so that "" and null read as such in a message."""
    return excerpt(json.dumps(value, ensure_ascii=False, default=str), 80)


# ---------------------------------------------------------------- comparators (SDK output vs wire)


def _first_choice(completion: Any, what: str) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(completion, dict):
        return None, [f"{what} is {_js_type(completion)} {excerpt(completion)!r}, not an object"]
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, [f"{what} has no choices (choices={excerpt(choices)})"]
    if not isinstance(choices[0].get("message"), dict):
        return None, [f"{what}: choices[0].message is {excerpt(choices[0].get('message'))}"]
    return choices[0], []


def _typed_fields(completion: dict[str, Any], choice: dict[str, Any]) -> list[str]:
    """The fields applications read without checking: id, finish_reason, role, content, usage."""
    problems = []
    if not isinstance(completion.get("id"), str):
        problems.append(f"id reaches the application as {_show(completion.get('id'))}")
    if not isinstance(choice.get("finish_reason"), str):
        problems.append(f"finish_reason reaches the application as {_show(choice.get('finish_reason'))}")
    role = choice["message"].get("role")
    if role != "assistant":
        # Applications append the message to the conversation as is: without a role the next turn
        # is rejected (and openai-node's own stream helper refuses such a message).
        problems.append(f"message.role reaches the application as {_show(role)}, not \"assistant\"")
    content = choice["message"].get("content")
    if content is not None and not isinstance(content, str):
        problems.append(f"message.content reaches the application as {_js_type(content)}, not a string")
    usage = completion.get("usage")
    if isinstance(usage, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if type(usage.get(name)) is not int:
                problems.append(f"usage.{name} reaches the application as {_show(usage.get(name))}")
    return problems


def _call_problem(call: Any, wire: tuple[Any, Any, Any], where: str, library: Library) -> list[str]:
    """One tool call the SDK handed over vs the wire's (id, name, arguments)."""
    wid, wname, wargs = wire
    fn, problems = _fn(call), []
    cid = call.get("id") if isinstance(call, dict) else None
    if not isinstance(cid, str) or not cid:
        problems.append(f"{where}.id is {_show(cid)}")
    elif wid is not None and cid != wid:
        problems.append(f"{where}.id {excerpt(cid)!r}; the wire said {excerpt(wid)!r}")
    if not isinstance(fn.get("name"), str) or (wname is not None and fn.get("name") != wname):
        problems.append(f"{where}.function.name {excerpt(fn.get('name'))!r}; the wire said {excerpt(wname)!r}")
    kinds = library.tool_call_types
    if kinds is not None and isinstance(call, dict) and call.get("type") not in kinds:
        problems.append(
            f"{where}.type is {_show(call.get('type'))}; {library.name}'s types promise "
            f"{' or '.join(repr(k) for k in kinds[:1])} and its helpers reject other types"
        )
    args = fn.get("arguments")
    if not isinstance(args, str):
        problems.append(f"{where}.function.arguments reaches the application as {_js_type(args)}, not a string")
    elif args != wargs:
        problems.append(f"{where}.function.arguments {excerpt(args)!r} != wire {excerpt(wargs)!r}")
    return problems


def _call_problems(sdk_calls: Any, wire: list[tuple[Any, Any, Any]], what: str, library: Library) -> list[str]:
    """Tool calls the SDK handed over vs the wire's (id, name, arguments), in order."""
    if sdk_calls is None:
        sdk_calls = []
    if not isinstance(sdk_calls, list):
        return [f"{what} tool_calls is {excerpt(sdk_calls)}, not a list"]
    problems = []
    if len(sdk_calls) != len(wire):
        problems.append(f"{what} has {len(sdk_calls)} tool calls; the wire has {len(wire)}")
    for i, (call, wire_call) in enumerate(zip(sdk_calls, wire)):
        problems += _call_problem(call, wire_call, f"{what} tool_calls[{i}]", library)
    return problems


def _message_problems(choice: dict[str, Any], what: str, wire_text: str, wire_calls: list[tuple[Any, Any, Any]],
                      library: Library) -> list[str]:
    """The message the SDK handed over vs the wire: text and tool calls."""
    content = choice["message"].get("content")
    problems = []
    if text_of(content) != wire_text:
        problems.append(f"{what} content {excerpt(content)!r} != wire text {excerpt(wire_text)!r}")
    return problems + _call_problems(choice["message"].get("tool_calls"), wire_calls, what, library)


def _create(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """create: the completion's typed fields, text and tool calls."""
    completion = observed.get("completion")
    choice, problems = _first_choice(completion, "completion")
    if choice is None:
        if not isinstance(completion, dict):
            problems[0] += f" (response content-type: {step.exchange.content_type or 'none'})"
        return problems
    wire_text = text_of(_wire_message(step.exchange).get("content"))
    wire_calls = [(c.get("id"), _fn(c).get("name"), _fn(c).get("arguments")) for c in _wire_calls(step.exchange)]
    typed = _typed_fields(completion, choice) if isinstance(completion, dict) else []
    return typed + _message_problems(choice, "completion", wire_text, wire_calls, library)


def _create_stream(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """create_stream: as many chunks as the wire, whose deltas add up to the wire's text and calls."""
    wire = step.exchange.stream
    chunks = observed.get("chunks") or []
    count = observed.get("chunk_count")
    problems = []
    if count != len(wire.chunks):
        problems.append(f"the SDK yielded {count} chunks; the wire has {len(wire.chunks)}")
    # Read the SDK's chunks the way the wire's are read, so both sides use one accumulation.
    sdk = dataclasses.replace(wire, chunks=tuple(c for c in chunks if isinstance(c, dict)))
    if sdk.text(0) != wire.text(0):
        problems.append(f"the chunks' delta.content joins to {excerpt(sdk.text(0))!r}; the wire's to {excerpt(wire.text(0))!r}")
    sdk_calls, wire_calls = (
        [(c.index, c.ids, c.names, c.arguments) for c in accumulate_tool_calls(stream)[0]] for stream in (sdk, wire)
    )
    if sdk_calls != wire_calls:
        problems.append(f"the chunks' tool-call deltas add up to {excerpt(sdk_calls)}; the wire's to {excerpt(wire_calls)}")
    return problems


def _stream_helper(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """stream_helper: the accumulated completion's text and calls; the content and tool-call events."""
    wire_text, wire = step.exchange.stream.text(0), _streamed_wire_calls(step.exchange)
    what = library.calls["stream_helper"]
    choice, problems = _first_choice(observed.get("final"), f"{what}'s completion")
    if choice is not None:
        problems = _message_problems(choice, f"{what}'s completion", wire_text, wire, library)
    if "content_deltas" in observed and (observed.get("content_deltas") or "") != wire_text:
        problems.append(f"the 'content' events join to {excerpt(observed.get('content_deltas'))!r}; the wire text is {excerpt(wire_text)!r}")
    if "tool_calls_done" in observed:
        problems += _tool_call_events(observed.get("tool_calls_done"), wire)
    return problems


def _tool_call_events(events: Any, wire: list[tuple[Any, Any, Any]]) -> list[str]:
    done = {e.get("index"): e for e in events or [] if isinstance(e, dict)}
    problems = []
    for i, (_, name, args) in enumerate(wire):
        event = done.get(i)
        if event is None:
            problems.append(f"no 'tool_calls.function.arguments.done' event for tool call {i} ({excerpt(name)})")
        elif event.get("arguments") != args or event.get("name") != name:
            problems.append(
                f"'tool_calls.function.arguments.done' for tool call {i} gave {excerpt(event.get('name'))}"
                f"({excerpt(event.get('arguments'))}); the wire has {excerpt(name)}({excerpt(args)})"
            )
    return problems


def _run_tools(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """run_tools: each wire call handed to the application's function as its JSON string, and the
    results sent back under the calls' ids."""
    calls = _wire_calls(step.exchange)
    runner = library.calls["run_tools"]
    if not calls:
        text = text_of(_wire_message(step.exchange).get("content"))
        if (observed.get("final_content") or "") != text:
            return [f"{runner}'s final content {excerpt(observed.get('final_content'))!r} != wire {excerpt(text)!r}"]
        return []
    invocations = [i for i in observed.get("invocations") or [] if isinstance(i, dict)]
    problems = [p for i, call in enumerate(calls) if (p := _invocation_problem(runner, i, call, invocations))]
    requests = observed.get("requests") or []
    if len(requests) < 2:
        return [*problems, f"{runner} never sent the tool results back"]
    followup = requests[1].get("body") if isinstance(requests[1], dict) else None
    messages = followup.get("messages") if isinstance(followup, dict) else None
    sent_ids = [m.get("tool_call_id") for m in messages or [] if isinstance(m, dict) and m.get("role") == "tool"]
    wire_ids = [c.get("id") for c in calls]
    if sent_ids != wire_ids:
        problems.append(f"{runner} sent tool results for ids {excerpt(sent_ids)}; the response's tool calls have ids {excerpt(wire_ids)}")
    return problems


def _invocation_problem(runner: str, i: int, call: dict[str, Any], invocations: list[dict[str, Any]]) -> str | None:
    name, args = _fn(call).get("name"), _fn(call).get("arguments")
    got = invocations[i] if i < len(invocations) else None
    if got is None:
        return f"{runner} never handed tool call {i} ({excerpt(name)}) to the application's function"
    if got.get("name") != name:
        return f"{runner} called {excerpt(got.get('name'))} for tool call {i}; the wire names {excerpt(name)}"
    if got.get("arguments_type") != "string":
        return (
            f"{runner} handed the {excerpt(name)} parser arguments of type {got.get('arguments_type')} "
            f"({excerpt(got.get('arguments'))}), not the JSON string"
        )
    if got.get("arguments") != args:
        return f"{runner} handed the {excerpt(name)} parser {excerpt(got.get('arguments'))!r}; the wire has {excerpt(args)!r}"
    if not got.get("parsed"):
        return f"{runner} could not JSON.parse the arguments of tool call {i}: {excerpt(args)!r}"
    return None


def _decoded_vector(observed: Mapping[str, Any]) -> list[float] | None:
    items = observed.get("embeddings") or []
    vec = items[0].get("embedding") if items and isinstance(items[0], dict) else None
    if not isinstance(vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vec):
        return None
    return [float(x) for x in vec]


def _embeddings(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """embeddings: the SDK asks for base64 and decodes it as float32; what it hands over must be
    exactly the wire's float32 values, as many as the float vector has (float64 doubles them).
    Comparing with the wire's own values, not the float answer's, keeps a provider whose vectors
    vary between calls from being blamed on the SDK."""
    items = observed.get("embeddings") or []
    if not items or not isinstance(items[0], dict):
        return [f"embeddings.create returned {observed.get('data_count')} embeddings"]
    vec = _decoded_vector(observed)
    if vec is None:
        sent = (observed.get("requests") or [{}])[0].get("body")
        asked = sent.get("encoding_format") if isinstance(sent, dict) else None
        what = f"{items[0].get('type')} {excerpt(items[0].get('embedding'))}"
        return [f"the SDK's embedding (requested as {asked}) is {what}, not an array of finite numbers"]
    ref = _first_embedding(step.floats)
    if isinstance(ref, list) and len(vec) != len(ref):
        return [f"the SDK decoded {len(vec)} values from the base64 answer; the float vector has {len(ref)}"]
    wire = _first_embedding(step.exchange)
    if isinstance(wire, str):
        try:
            expected = decode_base64_f32(wire)
        except (ValueError, binascii.Error):
            return []  # undecodable base64 is judged by embeddings.base64
        if len(vec) != len(expected) or any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(vec, expected)):
            return ["the SDK's decoded vector differs from the wire's float32 values"]
    return []


# ---------------------------------------------------------------- comparators of the normalised calls
# The libraries beyond the official SDKs hand over their own types (a LangChain AIMessage, a
# pydantic-ai result...); their adapters report them in one normalised shape per call
# (conformance/clients/README.md), judged here: text, tool name and parsed arguments, usage, vectors.


def _same(a: Any, b: Any) -> bool:
    """JSON equality where 1 == 1.0 but true != 1."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _parsed(arguments: Any) -> Any:
    """Tool arguments as the application uses them: a JSON string parsed, anything else as it is."""
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except ValueError:
            return arguments
    return arguments


def _text_problem(observed: Mapping[str, Any], wire_text: str, what: str) -> list[str]:
    text = observed.get("text")
    if text is not None and not isinstance(text, str):
        return [f"{what} text reaches the application as {_js_type(text)}, not a string"]
    if (text or "") != wire_text:
        return [f"{what} text {excerpt(text)!r} != wire text {excerpt(wire_text)!r}"]
    return []


def _usage_problems(observed: Mapping[str, Any], wire_usage: Any) -> list[str]:
    """The library's token counts vs the wire's (not judged when the library has no usage for the
    call, or the wire carries none)."""
    if "usage" not in observed or not isinstance(wire_usage, dict):
        return []
    usage = observed["usage"]
    if usage is None:
        return [f"the library dropped the usage the wire carries ({excerpt(wire_usage)})"]
    if not isinstance(usage, dict):
        return [f"usage reaches the application as {_show(usage)}"]
    problems = [
        f"usage.{name} reaches the application as {_show(usage.get(name))}; the wire says {_show(wire_usage.get(name))}"
        for name in ("prompt_tokens", "completion_tokens")
        if usage.get(name) is not None and not _same(usage.get(name), wire_usage.get(name))
    ]
    total, parts = usage.get("total_tokens"), (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    # Several libraries add the total up themselves: a total that is their own sum is theirs to give.
    own_sum = all(isinstance(p, (int, float)) for p in parts) and _same(total, sum(parts))  # type: ignore[arg-type]
    if total is not None and not _same(total, wire_usage.get("total_tokens")) and not own_sum:
        problems.append(f"usage.total_tokens reaches the application as {_show(total)}; the wire says "
                        f"{_show(wire_usage.get('total_tokens'))}")
    return problems


def _library_calls(observed: Any, wire: list[tuple[Any, Any, Any]], what: str) -> list[str]:
    """Tool calls handed over (id if kept, name, arguments parsed) vs the wire's."""
    calls = [c for c in observed or [] if isinstance(c, dict)] if isinstance(observed, list) else []
    if observed is not None and not isinstance(observed, list):
        return [f"{what} tool calls reach the application as {_show(observed)}"]
    problems = []
    if len(calls) != len(wire):
        problems.append(f"{what} has {len(calls)} tool calls; the wire has {len(wire)}")
    for i, (call, (wid, wname, wargs)) in enumerate(zip(calls, wire)):
        where = f"{what} tool call {i}"
        if call.get("name") != wname:
            problems.append(f"{where} is named {_show(call.get('name'))}; the wire says {_show(wname)}")
        if not _same(_parsed(call.get("arguments")), _parsed(wargs)):
            problems.append(f"{where} arguments {_show(call.get('arguments'))}; the wire has {_show(wargs)}")
        if "id" in call and isinstance(wid, str) and wid and call.get("id") != wid:
            problems.append(f"{where} id {_show(call.get('id'))}; the wire says {_show(wid)}")
    return problems


def _chat(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """chat: the answer's text and usage."""
    body = step.exchange.json_body
    usage = body.get("usage") if isinstance(body, dict) else None
    return _text_problem(observed, text_of(_wire_message(step.exchange).get("content")), "the answer's") + _usage_problems(observed, usage)


def _stream_usage(ex: Exchange) -> Any:
    chunks = ex.stream.usage_chunks()
    return chunks[-1].get("usage") if chunks else None


def _chat_stream(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """chat_stream: the streamed text, and the usage the stream ended with."""
    ex = step.exchange
    return _text_problem(observed, ex.stream.text(0), "the streamed") + _usage_problems(observed, _stream_usage(ex))


def _wire_call_triples(ex: Exchange) -> list[tuple[Any, Any, Any]]:
    return [(c.get("id"), _fn(c).get("name"), _fn(c).get("arguments")) for c in _wire_calls(ex)]


def _tools(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """tools: the tool calls (name, parsed arguments, id) and any text."""
    text = text_of(_wire_message(step.exchange).get("content"))
    return _text_problem(observed, text, "the answer's") + _library_calls(observed.get("tool_calls"), _wire_call_triples(step.exchange), "the answer")


def _tools_stream(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """tools_stream: the tool calls the library accumulated from the deltas, and any text."""
    ex = step.exchange
    return _text_problem(observed, ex.stream.text(0), "the streamed") + _library_calls(observed.get("tool_calls"), _streamed_wire_calls(ex), "the stream")


def _turn_problems(step: Step, observed: Mapping[str, Any], wire: list[tuple[Any, Any, Any]], final_text: str,
                   sent_ids: Callable[[Any], list[Any]]) -> list[str]:
    """A tool loop (plan() replays only those whose first answer calls tools and whose follow-up
    answers in text): each wire call run once with its arguments, the results sent back under the
    calls' ids, and the final answer handed over."""
    invocations = observed.get("invocations")
    problems = _library_calls(invocations, [(None, n, a) for _, n, a in wire], "the tools the library ran:")
    requests = observed.get("requests") or []
    if len(requests) < 2:
        return [*problems, "the library never sent the tool results back"]
    ids = sent_ids(requests[1].get("body") if isinstance(requests[1], dict) else None)
    wire_ids = [i for i, _, _ in wire]
    if sorted(map(str, ids)) != sorted(map(str, wire_ids)):
        problems.append(f"the library sent tool results for ids {_show(ids)}; the tool calls have ids {_show(wire_ids)}")
    return problems + _text_problem(observed, final_text, "the final answer's")


def _chat_result_ids(body: Any) -> list[Any]:
    messages = body.get("messages") if isinstance(body, dict) else None
    return [m.get("tool_call_id") for m in messages or [] if isinstance(m, dict) and m.get("role") == "tool"]


def _tool_turn(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """tool_turn: tools_auto's calls run, their results sent back, tools_result's answer handed over."""
    final = step.then if step.then is not None else step.exchange
    return _turn_problems(step, observed, _wire_call_triples(step.exchange), text_of(_wire_message(final).get("content")),
                          _chat_result_ids)


def _structured(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """structured: the object the library parsed is the JSON the answer holds."""
    content = text_of(_wire_message(step.exchange).get("content"))
    try:
        wire = json.loads(content)
    except ValueError:
        wire = content
    if "parsed" not in observed or not _same(observed.get("parsed"), wire):
        return [f"the library parsed {_show(observed.get('parsed'))}; the answer holds {_show(wire)}"]
    return []


def _wire_vector(ex: Exchange | None) -> list[float] | None:
    vec = _first_embedding(ex)
    if isinstance(vec, str):
        try:
            return decode_base64_f32(vec)
        except (ValueError, binascii.Error):
            return None
    return vec if isinstance(vec, list) else None


def _embed(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """embed_*: the first vector handed over has as many numbers as the float answer, and they are
    the served answer's (float32 precision): a base64 answer decoded the way the spec defines it."""
    requests = observed.get("requests") or [{}]
    served = step.base64 if requests[0].get("served") == "base64" else step.exchange
    vectors = observed.get("vectors")
    vec = vectors[0] if isinstance(vectors, list) and vectors else None
    if not isinstance(vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vec):
        return [f"the library's embedding is {_show(vec)}, not an array of numbers"]
    floats = _first_embedding(step.exchange)
    if isinstance(floats, list) and len(vec) != len(floats):
        return [f"the library handed over {len(vec)} numbers; the float answer's vector has {len(floats)}"]
    wire = _wire_vector(served)
    if wire is None or len(wire) != len(vec) or any(not isinstance(x, (int, float)) or isinstance(x, bool) for x in wire):
        return []  # an unreadable wire vector is the embeddings checks' to judge
    if any(not math.isfinite(a) or abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(vec, wire)):
        return ["the library's vector differs from the wire's"]
    return []


def _models(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """models: the ids listed, in the wire's order."""
    body = step.exchange.json_body
    data = body.get("data") if isinstance(body, dict) else None
    wire = [m.get("id") for m in data or [] if isinstance(m, dict)] if isinstance(data, list) else []
    if observed.get("ids") != wire:
        return [f"the library listed {_show(observed.get('ids'))}; the wire lists {_show(wire)}"]
    return []


def _response_body(ex: Exchange | None) -> dict[str, Any]:
    """A Response: the body, or for a stream the response its last event carries."""
    if ex is None:
        return {}
    if ex.stream_requested:
        finals = [c.get("response") for c in ex.stream.chunks if isinstance(c.get("response"), dict)]
        return finals[-1] if finals else {}
    body = ex.json_body
    return body if isinstance(body, dict) else {}


def _response_text(ex: Exchange | None) -> str:
    return output_text(_response_body(ex))


def _agent_run(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """agent_run / agent_stream: the agent's final output is the Response's output text."""
    return _text_problem(observed, _response_text(step.exchange), "the agent's final output")


def _response_result_ids(body: Any) -> list[Any]:
    items = body.get("input") if isinstance(body, dict) else None
    return [i.get("call_id") for i in items or [] if isinstance(i, dict) and i.get("type") == "function_call_output"]


def _agent_tools(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """agent_tools: resp_tools' function calls run, their outputs sent back, resp_tool_result's answer."""
    calls = items_of(_response_body(step.exchange), "function_call")
    wire = [(c.get("call_id"), c.get("name"), c.get("arguments")) for c in calls]
    return _turn_problems(step, observed, wire, _response_text(step.then), _response_result_ids)


def _wire_error_message(body: Any) -> str | None:
    """The provider's own words in an error body, whatever its shape: error.message, a string
    error, FastAPI's string detail, a top-level message."""
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    for candidate in (error.get("message") if isinstance(error, dict) else error, body.get("detail"), body.get("message")):
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return None


def _error(step: Step, observed: Mapping[str, Any], library: Library) -> list[str]:
    """error: on a 4xx/5xx answer the library raises, with the wire's status (where it exposes one)
    and the provider's error message, so the application can tell what went wrong."""
    ex = step.exchange
    if not observed.get("raised"):
        return [f"the library raised nothing on HTTP {ex.status}: it handed the application an answer"]
    problems = []
    status = observed.get("status")
    if status is not None and status != ex.status:
        problems.append(f"the library's {excerpt(observed.get('type'), 60)} says HTTP {_show(status)}; the wire says {ex.status}")
    message = _wire_error_message(ex.json_body)
    if isinstance(message, str) and message.strip() and message.strip()[:60] not in str(observed.get("message") or ""):
        problems.append(f"the provider's error message {excerpt(message, 80)!r} does not reach the application "
                        f"(it gets {excerpt(observed.get('message'), 120)!r})")
    return problems


Comparator = Callable[[Step, Mapping[str, Any], Library], list[str]]

# What each call's observation holds (plain JSON; a key a library cannot observe is left out):
#   create         {"completion": the completion object}
#   create_stream  {"chunk_count": int, "chunks": [chunk objects]}
#   stream_helper  {"final": the accumulated completion, "content_deltas": str,
#                   "tool_calls_done": [{"index", "name", "arguments"}]}
#   run_tools      {"invocations": [{"name", "arguments_type", "arguments", "parsed"}],
#                   "final_content": str, "requests": [{"method", "path", "body"}]}
#   embeddings     {"data_count": int, "embeddings": [{"type", "embedding"}], "requests": [...]}
COMPARE: dict[str, Comparator] = {
    "create": _create,
    "create_stream": _create_stream,
    "stream_helper": _stream_helper,
    "run_tools": _run_tools,
    "embeddings": _embeddings,
    # the normalised calls (conformance/clients/README.md)
    "chat": _chat,
    "chat_stream": _chat_stream,
    "tools": _tools,
    "extract_tool": _tools,
    "tools_stream": _tools_stream,
    "tool_turn": _tool_turn,
    "structured": _structured,
    "embed_float": _embed,
    "embed_default": _embed,
    "models": _models,
    "agent_run": _agent_run,
    "agent_stream": _agent_run,
    "agent_tools": _agent_tools,
    "error": _error,
}
