"""The client area: what the official SDKs make of the responses the suite saw.

`client.openai_python` replays the recorded exchanges (chat, stream, tool calls, streamed tool
calls, base64 embeddings) through the official openai-python SDK with a transport that serves the
recorded bytes, so the SDK's own parsing, stream decoding and stream accumulation run on exactly
what the provider sent, at no extra token cost. The SDK is lenient (it builds models without
validation), so "parsed" is judged by comparing what the SDK hands to application code with what
the wire says: same text, same tool calls, arguments still strings, vectors decoded correctly.

An answer the token cap cut (finish_reason "length") is still replayed: the SDK's stream helper
refuses to finalise one by design (`LengthFinishReasonError`, whatever the provider), so for those
the accumulated snapshot - what an application iterating the stream holds - is compared instead.
An SDK refusal is a finding only where the wire does not say the answer was cut.
"""

from __future__ import annotations

import binascii
import math
from collections.abc import Callable
from typing import Any

import httpx

from conformance.checks.base import Context, Fail, NoVerdict, Skip, check
from conformance.checks.common import cut_at_cap, excerpt, text_of
from conformance.checks.embeddings import decode_base64_f32
from conformance.checks.tools import accumulate_tool_calls
from conformance.transport import Exchange

_HOP_HEADERS = ("content-encoding", "content-length", "transfer-encoding", "connection")


def replay_client(ex: Exchange) -> Any:
    """An openai.OpenAI client whose every request is answered with the recorded exchange."""
    import openai

    headers = {k: v for k, v in ex.headers.items() if k not in _HOP_HEADERS}

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(ex.status or 599, headers=headers, content=ex.body)

    return openai.OpenAI(
        api_key="replay",
        base_url="http://replay.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def _chat_params(ex: Exchange) -> dict[str, Any]:
    body = dict(ex.request_body) if isinstance(ex.request_body, dict) else {}
    body.pop("stream", None)
    return body


def _replay_chat(ex: Exchange) -> list[str]:
    completion = replay_client(ex).chat.completions.create(**_chat_params(ex))
    wire = ex.json_body
    problems = []
    if not completion.choices:
        return ["the SDK saw no choices"]
    message = completion.choices[0].message
    if message.role != "assistant":
        problems.append(f"message.role reaches the application as {message.role!r}; appending it to the history breaks the next request")
    wire_message = wire["choices"][0].get("message", {}) if isinstance(wire, dict) else {}
    wire_text = text_of(wire_message.get("content"))
    if (message.content or "") != wire_text:
        problems.append(f"message.content {excerpt(message.content)!r} != wire {excerpt(wire_text)!r}")
    if not isinstance(completion.choices[0].finish_reason, str):
        problems.append(f"finish_reason is {excerpt(completion.choices[0].finish_reason)}")
    for i, call in enumerate(message.tool_calls or []):
        fn = getattr(call, "function", None)
        if fn is None or not isinstance(fn.arguments, str):
            problems.append(f"tool_calls[{i}].function.arguments reaches the application as {type(getattr(fn, 'arguments', None)).__name__}, not str")
        if not isinstance(call.id, str) or not call.id:
            problems.append(f"tool_calls[{i}].id is {excerpt(call.id)}")
    if completion.usage is not None:
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if type(getattr(completion.usage, name, None)) is not int:
                problems.append(f"usage.{name} reaches the application as {excerpt(getattr(completion.usage, name, None))}")
    return problems


def _replay_stream(ex: Exchange) -> list[str]:
    from openai.lib.streaming.chat._completions import ChatCompletionStreamState

    stream = replay_client(ex).chat.completions.create(**_chat_params(ex), stream=True)
    state = ChatCompletionStreamState()
    for chunk in stream:
        state.handle_chunk(chunk)
    # get_final_completion() raises LengthFinishReasonError for any answer the cap cut, by design.
    final = state.current_completion_snapshot if cut_at_cap(ex) else state.get_final_completion()
    problems = []
    wire = ex.stream
    if not final.choices:
        return ["the SDK's stream accumulation produced no choices"]
    message = final.choices[0].message
    if (message.content or "") != wire.text(0):
        problems.append(f"accumulated content {excerpt(message.content)!r} != wire text {excerpt(wire.text(0))!r}")
    wire_calls, _ = accumulate_tool_calls(wire)
    sdk_calls = message.tool_calls or []
    if len(sdk_calls) != len(wire_calls):
        problems.append(f"the SDK accumulated {len(sdk_calls)} tool calls; the wire has {len(wire_calls)}")
    for sdk, w in zip(sdk_calls, wire_calls):
        if w.ids and sdk.id != w.ids[0]:
            problems.append(f"accumulated tool-call id {excerpt(sdk.id)!r}; the first delta said {excerpt(w.ids[0])!r}")
        if w.names and sdk.function.name != w.names[0]:
            problems.append(f"accumulated function name {excerpt(sdk.function.name)!r}; the first delta said {excerpt(w.names[0])!r}")
        if sdk.function.arguments != w.arguments:
            problems.append(f"accumulated arguments {excerpt(sdk.function.arguments)!r} != wire {excerpt(w.arguments)!r}")
    return problems


def _replay_embeddings(ex: Exchange, floats: Exchange) -> list[str]:
    """The SDK asks for base64 by default and decodes it as float32: what it hands over must be
    exactly the wire's float32 values, as many as the float vector has (float64 doubles them)."""
    body = dict(ex.request_body)
    body.pop("encoding_format", None)
    result = replay_client(ex).embeddings.create(**body)
    vec = result.data[0].embedding
    if not isinstance(vec, list) or not all(isinstance(x, float) and math.isfinite(x) for x in vec):
        return [f"the SDK's embedding is {excerpt(vec)}, not a list of finite floats"]
    ref = floats.json_body["data"][0].get("embedding") if isinstance(floats.json_body, dict) else None
    if isinstance(ref, list) and len(vec) != len(ref):
        return [f"the SDK decoded {len(vec)} values; the float vector has {len(ref)}"]
    wire = ex.json_body["data"][0].get("embedding") if isinstance(ex.json_body, dict) else None
    if isinstance(wire, str):
        try:
            expected = decode_base64_f32(wire)
        except (ValueError, binascii.Error):
            return []  # undecodable base64 is judged by embeddings.base64
        if any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(vec, expected)):
            return ["the SDK's decoded vector differs from the wire's float32 values"]
    return []


def _replayable_stream(ex: Exchange) -> bool:
    """A 2xx stream without a mid-stream error event: the SDK rightly raises on those (the
    provider reported a failure), which says nothing about parsing."""
    return ex.ok and ex.stream.error_event is None


def _note_cut(ctx: Context, name: str, ex: Exchange) -> None:
    if cut_at_cap(ex):
        ctx.note(f"{name} was cut at the token cap: the SDK's accumulated snapshot was compared "
                 "(its final parse refuses cut answers with LengthFinishReasonError)")


@check("client.openai_python")
def client_openai_python(ctx: Context) -> str | None:
    try:
        import openai  # noqa: F401
    except ImportError:
        raise Skip("the openai package is not installed") from None
    plan: list[tuple[str, Callable[[], list[str]]]] = []
    chat = ctx.model_for("chat")
    for probe in ("chat_basic", "chat_n"):
        ex = ctx.probe(probe, chat)
        if ex.ok:
            plan.append((probe, lambda ex=ex: _replay_chat(ex)))
    ex = ctx.probe("stream_basic", chat)
    if _replayable_stream(ex):
        plan.append(("stream_basic", lambda ex=ex: _replay_stream(ex)))
        _note_cut(ctx, "stream_basic", ex)
    if ctx.provider.model_configs("tools"):
        tools = ctx.model_for("tools")
        for probe in ("tools_auto", "tools_parallel"):
            ex = ctx.probe(probe, tools)
            if ex.ok:
                plan.append((probe, lambda ex=ex: _replay_chat(ex)))
        ex = ctx.probe("tools_stream", tools)
        if _replayable_stream(ex):
            plan.append(("tools_stream", lambda ex=ex: _replay_stream(ex)))
            _note_cut(ctx, "tools_stream", ex)
    if ctx.provider.model_configs("embeddings"):
        emb = ctx.model_for("embeddings")
        ex, floats = ctx.probe("emb_base64", emb), ctx.probe("emb_single", emb)
        if ex.ok and floats.ok:
            plan.append(("emb_base64", lambda ex=ex, floats=floats: _replay_embeddings(ex, floats)))
    if not plan:
        raise NoVerdict("no successful response to replay through the SDK")
    for name, replay in plan:
        try:
            problems = replay()
        except Exception as exc:  # the point of the check: any SDK exception is a finding
            raise Fail(f"openai-python raised on the {name} response: {type(exc).__name__}: {excerpt(str(exc), 300)}") from None
        if problems:
            raise Fail(f"openai-python on the {name} response: {problems[0]}" + (f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""))
    return f"{len(plan)} responses parsed: {', '.join(n for n, _ in plan)}"
