"""Quirks of the 2026 surface: /responses, /completions, vision, images, reasoning, caching.

Hook points: endpoint_gate, responses_request, response_body, response_events,
response_sse_events, completions_request, completion_body, images_request, images_body,
chat_request, chat_response, chat_usage. Each is caught by the checks its `breaks` in quirks.yaml
name (checks/responses.py, completions.py, vision.py, images.py, reasoning.py, caching.py).
"""

from __future__ import annotations

import json
from typing import Any

from conformance.reference.errors import ApiError
from conformance.reference.quirks.places import drop, register_edits
from conformance.reference.quirks.registry import HookContext, hook

_HTML_404 = b"<!DOCTYPE html><html><body><h1>404 Not Found</h1></body></html>"


# Parameters ignored, fields left out: the remove-a-key family, as rows.
register_edits(
    drop("completion_max_tokens_ignored", "completions_request", "body", "max_tokens"),
    drop("completion_stop_ignored", "completions_request", "body", "stop"),
    drop("completions_logprobs_ignored", "completions_request", "body", "logprobs"),
    drop("images_no_created", "images_body", "body", "created"),
    drop("previous_response_ignored", "responses_request", "body", "previous_response_id"),
    drop("response_format_ignored", "responses_request", "body", "text"),
    drop("response_instructions_ignored", "responses_request", "body", "instructions"),
)


@hook("endpoint_gate", "responses_absent")
def _responses_absent(value: Any, ctx: HookContext) -> Any:
    if ctx.kind != "responses":
        return value
    err = ApiError(404, "Not Found")
    err.raw = _HTML_404  # read by the surface's error path
    return err


@hook("endpoint_gate", "completions_absent")
def _completions_absent(value: Any, ctx: HookContext) -> Any:
    return ApiError(404, "Invalid URL (POST /v1/completions)") if ctx.kind == "completions" else value


@hook("response_sse_events", "response_event_name_mismatch")
def _event_name_mismatch(events: list[list[str]], ctx: HookContext) -> list[list[str]]:
    return [["event: message", *lines[1:]] for lines in events]


@hook("response_events", "response_sequence_stuck")
def _sequence_stuck(events: list[dict[str, Any]], ctx: HookContext) -> list[dict[str, Any]]:
    return [{**e, "sequence_number": 0} for e in events]


@hook("response_body", "response_arguments_object")
def _arguments_object(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    for item in body.get("output") or []:
        if item.get("type") == "function_call":
            try:
                item["arguments"] = json.loads(item["arguments"])
            except ValueError:
                pass
    return body


@hook("response_body", "response_capped_completed")
def _capped_completed(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    return {**body, "status": "completed", "incomplete_details": None}


@hook("chat_request", "vision_image_ignored")
def _image_ignored(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    for m in body.get("messages") or []:
        if isinstance(m, dict) and isinstance(m.get("content"), list):
            m["content"] = [p for p in m["content"] if not (isinstance(p, dict) and p.get("type") == "image_url")]
    return body


@hook("images_body", "images_url_instead_of_b64")
def _url_instead(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    body["data"] = [{"url": "http://127.0.0.1:9/never.png"} for _ in body.get("data") or []]
    return body


@hook("chat_usage", "reasoning_not_in_totals")
def _reasoning_outside(use: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    hidden = use["completion_tokens_details"]["reasoning_tokens"]
    return {**use, "completion_tokens": use["completion_tokens"] - hidden, "total_tokens": use["total_tokens"] - hidden}


@hook("chat_usage", "cached_exceeds_prompt")
def _cached_exceeds(use: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    details = {**use["prompt_tokens_details"], "cached_tokens": use["prompt_tokens"] + 1}
    return {**use, "prompt_tokens_details": details}


# --- deviations added with the checks that catch them --------------------------------------------


@hook("response_body", "response_usage_total_wrong")
def _usage_total_wrong(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    use = body.get("usage")
    if isinstance(use, dict):
        body["usage"] = {**use, "total_tokens": use.get("input_tokens")}
    return body


@hook("responses_request", "response_not_stored")
def _not_stored(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    return {**body, "store": False}


@hook("response_body", "response_not_stored")
def _claims_stored(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    return {**body, "store": True}


@hook("response_events", "response_delta_duplicated")
def _delta_duplicated(events: list[dict[str, Any]], ctx: HookContext) -> list[dict[str, Any]]:
    out = [e for event in events for e in ([event, event] if event.get("type") == "response.output_text.delta" else [event])]
    return [{**e, "sequence_number": n} for n, e in enumerate(out)]


def _input_items(body: dict[str, Any]) -> list[Any]:
    return body["input"] if isinstance(body.get("input"), list) else []


@hook("responses_request", "response_tool_output_dropped")
def _tool_output_dropped(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    for item in _input_items(body):
        if isinstance(item, dict) and item.get("type") == "function_call_output":
            item["output"] = ""
    return body


@hook("responses_request", "response_image_ignored")
def _response_image_ignored(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    for item in _input_items(body):
        if isinstance(item, dict) and isinstance(item.get("content"), list):
            item["content"] = [p for p in item["content"] if not (isinstance(p, dict) and p.get("type") == "input_image")]
    return body


@hook("completion_body", "completion_chat_shaped")
def _chat_shaped(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    choices = [
        {**{k: v for k, v in c.items() if k != "text"}, "message": {"role": "assistant", "content": c.get("text")}}
        for c in body.get("choices") or []
    ]
    return {**body, "object": "chat.completion", "choices": choices}


@hook("images_request", "images_n_ignored")
def _n_ignored(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    return {**body, "n": 1}


@hook("images_request", "images_b64_instead_of_url")
def _b64_instead(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    return {**body, "response_format": "b64_json"}


@hook("chat_request", "reasoning_effort_500")
def _effort_500(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    if "reasoning_effort" in body:
        raise ApiError(500, "The server had an error while processing your request.", code="server_error")
    return body


@hook("chat_response", "reasoning_in_content")
def _think_in_content(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    if (ctx.request or {}).get("model") != "ref-reason":
        return body
    for choice in body.get("choices") or []:
        message = choice.get("message") or {}
        if isinstance(message.get("content"), str):
            message["content"] = "<think>The user wants a count. I will count.</think>" + message["content"]
    return body


@hook("response_body", "response_reasoning_outside_totals")
def _response_reasoning_outside(body: dict[str, Any], ctx: HookContext) -> dict[str, Any]:
    use = body.get("usage")
    hidden = ((use or {}).get("output_tokens_details") or {}).get("reasoning_tokens") or 0
    if isinstance(use, dict) and hidden:
        body["usage"] = {**use, "output_tokens": use["output_tokens"] - hidden, "total_tokens": use["total_tokens"] - hidden}
    return body
