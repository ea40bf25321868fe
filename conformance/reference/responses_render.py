"""The Responses API wire shapes: the Response object and its typed stream events.

What lives here: `ResponseIds` (the ids one response uses), `output_items()` (a Completion as
output items: a reasoning item for a reasoning model, then function_call items or one message),
`response_body()` (the Response object, status incomplete with incomplete_details when the cap
cut the answer), `response_usage()`, `stream_events()` (response.created ... response.completed,
each with an increasing sequence_number; the deltas reassemble to the final output) and
`sse_events()` (each event as `event: <type>` + `data:` lines; no [DONE] on this endpoint).
What does not: translating the request (responses_api.py) and HTTP (surface.py).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.reference import render
from conformance.reference.responder import Completion
from conformance.reference.tokens import tokenize

__all__ = ["ResponseIds", "output_items", "response_body", "response_usage", "sse_events", "stream_events"]


@dataclass(frozen=True)
class ResponseIds:
    response: str
    message: str
    reasoning: str
    call_prefix: str  # + index: the function_call items' ids


def output_items(c: Completion, ids: ResponseIds, reasoning: bool) -> list[dict[str, Any]]:
    """The output items of one completion."""
    items: list[dict[str, Any]] = []
    if reasoning:
        items.append({"type": "reasoning", "id": ids.reasoning, "summary": [], "encrypted_content": None})
    for k, call in enumerate(c.tool_calls):
        items.append(
            {"type": "function_call", "id": f"{ids.call_prefix}{k}", "call_id": call.id, "name": call.name,
             "arguments": call.arguments, "status": "completed"}
        )
    if not c.tool_calls:
        status = "incomplete" if c.finish_reason == "length" else "completed"
        part = {"type": "output_text", "text": c.content or "", "annotations": [], "logprobs": []}
        items.append({"type": "message", "id": ids.message, "status": status, "role": "assistant", "content": [part]})
    return items


def response_usage(chat_usage: Mapping[str, Any]) -> dict[str, Any]:
    """The Responses usage object with the same counts as a chat usage object."""
    return {
        "input_tokens": chat_usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": chat_usage["prompt_tokens_details"]["cached_tokens"]},
        "output_tokens": chat_usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": chat_usage["completion_tokens_details"]["reasoning_tokens"]},
        "total_tokens": chat_usage["total_tokens"],
    }


def response_body(
    request: Mapping[str, Any], model: str, ids: ResponseIds, created: int, output: list[dict[str, Any]], use: Any
) -> dict[str, Any]:
    """The Response object for a finished answer; `use` is its usage object (None while in progress)."""
    capped = any(i.get("status") == "incomplete" for i in output)
    text = "".join(p.get("text", "") for i in output if i.get("type") == "message" for p in i.get("content", []))
    fmt = (request.get("text") or {}).get("format") if isinstance(request.get("text"), Mapping) else None
    return {
        "id": ids.response, "object": "response", "created_at": created,
        "status": "incomplete" if capped else "completed",
        "completed_at": None if capped else created,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if capped else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "model": model, "output": output, "output_text": text,
        "parallel_tool_calls": request.get("parallel_tool_calls") is not False,
        "previous_response_id": request.get("previous_response_id"),
        "reasoning": {"effort": (request.get("reasoning") or {}).get("effort"), "summary": None},
        "store": request.get("store") is not False,
        "temperature": request.get("temperature", 1.0), "top_p": request.get("top_p", 1.0),
        "text": {"format": fmt if isinstance(fmt, Mapping) else {"type": "text"}},
        "tool_choice": request.get("tool_choice") or "auto",
        "tools": list(request.get("tools") or []),
        "truncation": "disabled",
        "usage": use,
        "metadata": dict(request.get("metadata") or {}),
    }


def _in_progress(item: Mapping[str, Any]) -> dict[str, Any]:
    started = {**copy.deepcopy(dict(item)), "status": "in_progress"}
    if started["type"] == "message":
        started["content"] = []
    elif started["type"] == "function_call":
        started["arguments"] = ""
    elif started["type"] == "reasoning":
        started.pop("status")
    return started


def _item_events(index: int, item: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The events of one output item, from output_item.added to output_item.done (no sequence numbers)."""
    events: list[dict[str, Any]] = [{"type": "response.output_item.added", "output_index": index, "item": _in_progress(item)}]
    where = {"item_id": item["id"], "output_index": index}
    if item["type"] == "message":
        part = item["content"][0]
        at = {**where, "content_index": 0}
        events.append({"type": "response.content_part.added", **at, "part": {**part, "text": ""}})
        events += [{"type": "response.output_text.delta", **at, "delta": p, "logprobs": []} for p in tokenize(part["text"])]
        events.append({"type": "response.output_text.done", **at, "text": part["text"], "logprobs": []})
        events.append({"type": "response.content_part.done", **at, "part": copy.deepcopy(part)})
    elif item["type"] == "function_call":
        events += [{"type": "response.function_call_arguments.delta", **where, "delta": p} for p in tokenize(item["arguments"])]
        events.append({"type": "response.function_call_arguments.done", **where, "name": item["name"], "arguments": item["arguments"]})
    events.append({"type": "response.output_item.done", "output_index": index, "item": copy.deepcopy(dict(item))})
    return events


def stream_events(final: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The stream of a finished Response `final`: created, in_progress, each item's events, then
    completed (or incomplete), numbered 0, 1, 2, ..."""
    start = {**copy.deepcopy(dict(final)), "status": "in_progress", "output": [], "output_text": "", "usage": None,
             "incomplete_details": None, "completed_at": None}
    events = [{"type": "response.created", "response": start}, {"type": "response.in_progress", "response": copy.deepcopy(start)}]
    for index, item in enumerate(final["output"]):
        events += _item_events(index, item)
    last = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
    events.append({"type": last, "response": copy.deepcopy(dict(final))})
    return [{**event, "sequence_number": n} for n, event in enumerate(events)]


def sse_events(events: list[dict[str, Any]]) -> list[list[str]]:
    """Each event as its SSE field lines: `event: <type>` then `data: <json>`."""
    return [[f"event: {e.get('type')}", "data: " + render.dumps(e).decode("utf-8")] for e in events]
