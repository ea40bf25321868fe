"""`client.openai_python`: the recorded responses replayed through the official openai-python SDK, in process.

The openai-python runner of checks/sdk_replay.py: an `openai.OpenAI` client whose transport serves
each step's recorded response (httpx.MockTransport), so the SDK's own parsing, stream decoding and
accumulation run on exactly the bytes the provider sent, at no token cost. The SDK is lenient (it
builds its models without validation), so what it hands the application is dumped as plain JSON
(the fields the response set, with the values the SDK holds) and judged by the shared comparators.

openai-python has no tool runner, so the plan's run_tools calls are not its. Its stream
accumulator (`ChatCompletionStreamState`, what `chat.completions.stream()` runs) refuses to
finalise an answer the token cap cut (`LengthFinishReasonError`, whatever the provider), so for
those the accumulated snapshot - what an application iterating the stream holds - is judged
instead, and a note says so. Tool-call types are not judged: its helpers never read them. Nor
are the accumulator's events (`content.delta`, `tool_calls.function.arguments.done`), only its
completion: judging them would fail openai-python on a finish_reason in every chunk, a stream
without one and a tool call without a type, which quirks.yaml records as tolerated by it.
"""

from __future__ import annotations

import json
import platform
import warnings
from collections.abc import Callable
from typing import Any

import httpx

from conformance.checks.base import Context, Skip, check
from conformance.checks.common import cut_at_cap
from conformance.checks.sdk_replay import Library, ReplayRun, Step, StepResult, replay_check

PYTHON = Library(
    name="openai-python",
    calls={
        "create": "chat.completions.create",
        "create_stream": "chat.completions.create(stream=True)",
        "stream_helper": "ChatCompletionStreamState",
        "embeddings": "embeddings.create",
        "models": "models.list",
        "error": "chat.completions.create, on an error answer",
    },
)
_HOP_HEADERS = ("content-encoding", "content-length", "transfer-encoding", "connection")
MAX_CHUNKS_REPORTED = 5000
# The SDK's own model_dump() warns when it serialises a value of the wrong type a provider sent (an
# object where `arguments` is a string): the comparators report that value, so the warning is noise.
# A filter, not catch_warnings(): that one is process-wide state, and checks run in threads.
warnings.filterwarnings("ignore", message="Pydantic serializer warnings", category=UserWarning, module="pydantic")


def replay_client(ex: Any, sent: list[dict[str, Any]]) -> Any:
    """An openai.OpenAI client whose every request is answered with the recorded exchange and
    recorded in `sent` ({method, path, body})."""
    import openai

    headers = {k: v for k, v in ex.headers.items() if k not in _HOP_HEADERS}

    def handler(request: httpx.Request) -> httpx.Response:
        try:
            body: Any = json.loads(request.content) if request.content else None
        except ValueError:
            body = request.content.decode("utf-8", "replace")
        sent.append({"method": request.method, "path": request.url.path, "body": body})
        return httpx.Response(ex.status or 599, headers=headers, content=ex.body)

    return openai.OpenAI(
        api_key="replay",
        base_url="http://replay.invalid/v1",
        max_retries=0,
        http_client=httpx.Client(transport=httpx.MockTransport(handler)),
    )


def _plain(value: Any) -> Any:
    """What the SDK handed over, as plain JSON: the fields the response set, the values it holds."""
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="python", warnings=False, exclude_unset=True)
    return value


def _create(client: Any, step: Step, sent: list[dict[str, Any]]) -> dict[str, Any]:
    return {"completion": _plain(client.chat.completions.create(**step.params()))}


def _create_stream(client: Any, step: Step, sent: list[dict[str, Any]]) -> dict[str, Any]:
    chunks = [_plain(chunk) for chunk in client.chat.completions.create(**step.params(), stream=True)]
    return {"chunk_count": len(chunks), "chunks": chunks[:MAX_CHUNKS_REPORTED]}


def _stream_helper(client: Any, step: Step, sent: list[dict[str, Any]]) -> dict[str, Any]:
    from openai.lib.streaming.chat import ChatCompletionStreamState

    state = ChatCompletionStreamState()
    for chunk in client.chat.completions.create(**step.params(), stream=True):
        state.handle_chunk(chunk)
    # get_final_completion() raises LengthFinishReasonError for any answer the cap cut, by design.
    final = state.current_completion_snapshot if cut_at_cap(step.exchange) else state.get_final_completion()
    return {"final": _plain(final)}


def _embeddings(client: Any, step: Step, sent: list[dict[str, Any]]) -> dict[str, Any]:
    params = step.params()
    params.pop("encoding_format", None)  # the SDK's default: it asks for base64 and decodes it
    data = list(client.embeddings.create(**params).data or [])
    items = [{"type": type(d.embedding).__name__, "embedding": d.embedding} for d in data]
    return {"data_count": len(data), "embeddings": items, "requests": sent}


def _models(client: Any, step: Step, sent: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ids": [m.id for m in client.models.list().data]}


def _error(client: Any, step: Step, sent: list[dict[str, Any]]) -> dict[str, Any]:
    """What the application catches on an error answer (the one call that catches: it is the observation)."""
    try:
        client.chat.completions.create(**step.params())
    except Exception as exc:  # noqa: BLE001
        status = getattr(exc, "status_code", None)
        return {"raised": True, "type": type(exc).__name__, "status": status, "message": str(exc)[:4000]}
    return {"raised": False}


CALLS: dict[str, Callable[[Any, Step, list[dict[str, Any]]], dict[str, Any]]] = {
    "create": _create,
    "create_stream": _create_stream,
    "stream_helper": _stream_helper,
    "embeddings": _embeddings,
    "models": _models,
    "error": _error,
}


def _replay_step(step: Step) -> StepResult:
    sent: list[dict[str, Any]] = []
    try:
        observed = CALLS[step.call](replay_client(step.exchange, sent), step, sent)
    except Exception as exc:  # the point of the check: any SDK exception is a finding
        return StepResult(False, f"{type(exc).__name__}: {exc}")
    return StepResult(True, observed=observed)


def replay_in_python(steps: list[Step]) -> ReplayRun:
    """Each step through openai-python in this process."""
    import openai

    cut = sorted({s.probe for s in steps if s.call == "stream_helper" and cut_at_cap(s.exchange)})
    notes = tuple(
        f"{probe} was cut at the token cap: the SDK's accumulated snapshot was compared "
        "(its final parse refuses cut answers with LengthFinishReasonError)"
        for probe in cut
    )
    results = tuple(_replay_step(step) for step in steps)
    return ReplayRun(openai.__version__, f"Python {platform.python_version()}", results, notes)


@check("client.openai_python")
def client_openai_python(ctx: Context) -> str | None:
    try:
        import openai  # noqa: F401
    except ImportError:
        raise Skip("the openai package is not installed") from None
    return replay_check(ctx, PYTHON, replay_in_python)
