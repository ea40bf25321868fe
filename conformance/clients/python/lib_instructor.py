"""Replay adapter for instructor (instructor.from_openai over openai-python): the calls an application makes.

Every call is `client.chat.completions.create(..., response_model=Model)` on `instructor.from_openai(
openai.OpenAI(...), mode=...)`, with the Model built from the request's JSON schema: `structured` in
`Mode.JSON_SCHEMA` (the json_schema response_format), `extract_tool` in `Mode.TOOLS` (instructor forces one
tool call named after the model and parses its arguments; the parsed object is reported as that tool
call, without id, its fields the ones the response set, and with text null: instructor hands over only
the model). The openai client has
max_retries=0 and the step's timeout; instructor's own re-asking is off (max_retries=0: one attempt), so
a response it cannot validate raises instead of asking the server again.

Left out: `chat`, `chat_stream`, `embed_*`, `models` (not instructor's: an application makes those on the
plain openai client); `tool_turn`, `agent_*` (instructor runs no tools and has no agent); `tools_stream`
(instructor's streamed TOOLS mode, create_partial/create_iterable, reads `delta.tool_calls[0]` of every
chunk and concatenates the arguments of all calls into one JSON text, so it cannot take the recorded
response's several separate calls).

Outbound calls: none seen besides base_url (instructor has no telemetry).
"""

from __future__ import annotations

import importlib.metadata
from typing import Callable

import instructor
import openai
import pydantic
from replay_common import schema_model as _schema_model  # noqa: E402 (beside this file)


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in ("instructor", "openai", "pydantic")}


def _client(step: dict, mode: instructor.Mode) -> instructor.Instructor:
    openai_client = openai.OpenAI(base_url=step["base_url"], api_key=step["api_key"], max_retries=0,
                                  timeout=step["timeout_s"])
    return instructor.from_openai(openai_client, mode=mode)


def _create(step: dict, mode: instructor.Mode, model: type[pydantic.BaseModel]) -> pydantic.BaseModel:
    request = step["request"]
    cap = request.get("max_tokens") or request.get("max_completion_tokens")
    options = {"max_tokens": cap} if cap is not None else {}
    return _client(step, mode).chat.completions.create(
        model=step["model"], messages=request["messages"], response_model=model, max_retries=0, **options)


def _structured(step: dict) -> dict:
    """instructor.from_openai(client, mode=Mode.JSON_SCHEMA).chat.completions.create(response_model=Model)"""
    spec = step["request"]["response_format"]["json_schema"]
    parsed = _create(step, instructor.Mode.JSON_SCHEMA, _schema_model(spec["schema"], spec["name"]))
    return {"parsed": parsed.model_dump(mode="json")}


def _tools(step: dict) -> dict:
    """instructor.from_openai(client, mode=Mode.TOOLS).chat.completions.create(response_model=<first tool>)"""
    function = next(tool["function"] for tool in step["request"]["tools"] if tool.get("type") == "function")
    model = _schema_model(function.get("parameters") or {}, function["name"], function.get("description"))
    arguments = _create(step, instructor.Mode.TOOLS, model).model_dump(mode="json", exclude_unset=True)
    return {"text": None, "tool_calls": [{"name": function["name"], "arguments": arguments}]}


CALLS: dict[str, Callable[[dict], dict]] = {
    "structured": _structured,
    "extract_tool": _tools,
}
