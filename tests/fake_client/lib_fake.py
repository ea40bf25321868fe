"""A test adapter over openai-python (the suite's own), so the replay machinery is tested without
the libraries' environments. Same protocol as conformance/clients/python/lib_*.py."""

from __future__ import annotations

import json
import time
from importlib.metadata import version
from typing import Any

import openai


def versions() -> dict[str, str]:
    return {"openai": version("openai")}


def _client(step: dict[str, Any]) -> openai.OpenAI:
    return openai.OpenAI(base_url=step["base_url"], api_key=step["api_key"], max_retries=0, timeout=step["timeout_s"])


def _usage(u: Any) -> dict[str, Any] | None:
    return None if u is None else {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                                   "total_tokens": u.total_tokens}


def _params(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step["request"].items() if k not in ("stream", "stream_options")}


def chat(step: dict[str, Any]) -> dict[str, Any]:
    """chat.completions.create"""
    if step["request"].get("messages", [{}])[0].get("content") == "HANG":
        time.sleep(3600)
    r = _client(step).chat.completions.create(**_params(step))
    return {"text": r.choices[0].message.content, "usage": _usage(r.usage)}


def chat_stream(step: dict[str, Any]) -> dict[str, Any]:
    """chat.completions.create(stream=True)"""
    text, usage = "", None
    for chunk in _client(step).chat.completions.create(**_params(step), stream=True, stream_options={"include_usage": True}):
        if chunk.choices and chunk.choices[0].delta.content:
            text += chunk.choices[0].delta.content
        if chunk.usage is not None:
            usage = _usage(chunk.usage)
    return {"text": text, "usage": usage}


def tools(step: dict[str, Any]) -> dict[str, Any]:
    """chat.completions.create(tools=...)"""
    m = _client(step).chat.completions.create(**_params(step)).choices[0].message
    calls = [{"id": c.id, "name": c.function.name, "arguments": json.loads(c.function.arguments)} for c in m.tool_calls or []]
    return {"text": m.content, "tool_calls": calls}


def tool_turn(step: dict[str, Any]) -> dict[str, Any]:
    """a hand-written tool loop"""
    client, params = _client(step), _params(step)
    m = client.chat.completions.create(**params).choices[0].message
    if not m.tool_calls:
        return {"invocations": [], "text": m.content}
    invocations, messages = [], [*params["messages"], m.model_dump(exclude_none=True)]
    for c in m.tool_calls:
        invocations.append({"name": c.function.name, "arguments": json.loads(c.function.arguments)})
        messages.append({"role": "tool", "tool_call_id": c.id, "content": json.dumps(step["tool_result"])})
    final = client.chat.completions.create(**{**params, "messages": messages}).choices[0].message
    return {"invocations": invocations, "text": final.content}


def structured(step: dict[str, Any]) -> dict[str, Any]:
    """chat.completions.create(response_format=json_schema)"""
    r = _client(step).chat.completions.create(**_params(step))
    return {"parsed": json.loads(r.choices[0].message.content)}


def embed_default(step: dict[str, Any]) -> dict[str, Any]:
    """embeddings.create"""
    params = {k: v for k, v in step["request"].items() if k != "encoding_format"}
    return {"vectors": [list(d.embedding) for d in _client(step).embeddings.create(**params).data]}


def models(step: dict[str, Any]) -> dict[str, Any]:
    """models.list"""
    return {"ids": [m.id for m in _client(step).models.list().data]}


CALLS = {"chat": chat, "chat_stream": chat_stream, "tools": tools, "tool_turn": tool_turn, "structured": structured,
         "embed_default": embed_default, "models": models}
