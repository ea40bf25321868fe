"""Replay adapter for LiteLLM's Python SDK: the calls an application would make.

Chat goes through `litellm.completion(model="openai/<model>", api_base=..., api_key=...)` (the SDK's
route for an OpenAI-compatible server), streams are added up with `litellm.stream_chunk_builder`, the
library's way to rebuild a response from chunks; embeddings through `litellm.embedding`, models through
`litellm.get_valid_models(check_provider_endpoint=True, custom_llm_provider="openai", ...)`. Structured
output passes the pydantic model as `response_format` (LiteLLM turns it into a json_schema format) and
validates the message content with it, as LiteLLM's docs show (LiteLLM hands over no parsed object).
The tool loop is the one LiteLLM's function-calling docs show: append the assistant message and one
role "tool" message per call, then call `completion` again. LiteLLM's retries (num_retries) and the
openai client's (max_retries) are 0; the timeout is the step's.

Left out: `agent_*` (LiteLLM is no agent framework; `litellm.responses` is a plain API call).

Outbound calls: the model cost map would be downloaded at import; LITELLM_LOCAL_MODEL_COST_MAP and
LITELLM_OFFLINE_MODE (which also covers tokenizer and blog-post fetches) are set before import, and
Hugging Face tokenizer downloads are off. The SDK sends no telemetry in this version (its telemetry
package is the proxy's, opt-in); `litellm.telemetry = False` is set anyway for older releases.
`get_valid_models` has no timeout parameter, swallows every error into an empty list (a failure shows
as `ids: []`), caches per api_base, and calls `<scheme>://<host>:<port>/v1/models`, dropping api_base's path.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from typing import Any, Callable

os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
os.environ["LITELLM_OFFLINE_MODE"] = "true"

import litellm  # noqa: E402
from replay_common import schema_model as _schema_model, error_call  # noqa: E402 (beside this file)

litellm.telemetry = False
litellm.disable_hf_tokenizer_download = True


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in ("litellm", "openai", "pydantic")}


# --- building blocks -----------------------------------------------------------------------------


def _route(step: dict) -> dict[str, Any]:
    """The keyword arguments that point LiteLLM at the step's server, with one attempt and its timeout."""
    return {"model": f"openai/{step['model']}", "api_base": step["base_url"], "api_key": step["api_key"],
            "timeout": step["timeout_s"], "num_retries": 0, "max_retries": 0}


def _completion(step: dict, **kwargs: Any) -> Any:
    """litellm.completion with the request's messages and token cap, plus the call's own arguments."""
    request = step["request"]
    cap = request.get("max_tokens") or request.get("max_completion_tokens")
    options = {"max_tokens": cap} if cap is not None else {}
    return litellm.completion(**_route(step), messages=kwargs.pop("messages", request["messages"]),
                              **options, **kwargs)


def _streamed(step: dict, **kwargs: Any) -> Any:
    """A streamed completion rebuilt into one response with litellm.stream_chunk_builder."""
    chunks = list(_completion(step, stream=True, **kwargs))
    return litellm.stream_chunk_builder(chunks, messages=step["request"]["messages"])


def _usage(response: Any) -> dict | None:
    usage = getattr(response, "usage", None)
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.total_tokens}


def _tool_options(request: dict) -> dict[str, Any]:
    options: dict[str, Any] = {"tools": request["tools"]}
    if request.get("tool_choice") is not None:
        options["tool_choice"] = request["tool_choice"]
    return options


def _tool_calls(response: Any) -> dict:
    """Text and tool calls of a response; arguments are the string LiteLLM hands over."""
    message = response.choices[0].message
    calls = [{"id": call.id, "name": call.function.name, "arguments": call.function.arguments}
             for call in message.tool_calls or []]
    return {"text": message.content, "tool_calls": calls}


def _embed(step: dict, **kwargs: Any) -> dict:
    response = litellm.embedding(**_route(step), input=step["request"]["input"], **kwargs)
    return {"vectors": [item["embedding"] for item in response.data]}


# --- calls ---------------------------------------------------------------------------------------


def _chat(step: dict) -> dict:
    """litellm.completion(model="openai/<model>", messages): choices[0].message.content, usage"""
    response = _completion(step)
    return {"text": response.choices[0].message.content, "usage": _usage(response)}


def _chat_stream(step: dict) -> dict:
    """litellm.completion(..., stream=True, stream_options={"include_usage": True}) -> stream_chunk_builder"""
    response = _streamed(step, stream_options={"include_usage": True})
    return {"text": response.choices[0].message.content, "usage": _usage(response)}


def _tools(step: dict) -> dict:
    """litellm.completion(..., tools, tool_choice): choices[0].message.tool_calls"""
    return _tool_calls(_completion(step, **_tool_options(step["request"])))


def _tools_stream(step: dict) -> dict:
    """litellm.completion(..., tools, stream=True) -> stream_chunk_builder: message.tool_calls"""
    return _tool_calls(_streamed(step, **_tool_options(step["request"])))


def _tool_turn(step: dict) -> dict:
    """litellm.completion(..., tools); json.loads each call's arguments, run it, append role "tool"; again"""
    request = step["request"]
    messages = list(request["messages"])
    response = _completion(step, messages=messages, **_tool_options(request))
    message = response.choices[0].message
    messages.append(message)
    invocations = []
    for call in message.tool_calls or []:
        arguments = json.loads(call.function.arguments)
        invocations.append({"name": call.function.name, "arguments": arguments})
        messages.append({"role": "tool", "tool_call_id": call.id, "name": call.function.name,
                         "content": json.dumps(step["tool_result"])})
    final = _completion(step, messages=messages, tools=request["tools"])
    return {"invocations": invocations, "text": final.choices[0].message.content}


def _structured(step: dict) -> dict:
    """litellm.completion(..., response_format=Model); Model.model_validate_json(message.content)"""
    spec = step["request"]["response_format"]["json_schema"]
    model = _schema_model(spec["schema"], spec["name"])
    response = _completion(step, response_format=model)
    return {"parsed": model.model_validate_json(response.choices[0].message.content).model_dump(mode="json")}


def _embed_float(step: dict) -> dict:
    """litellm.embedding(model="openai/<model>", input, encoding_format="float"): data[i]["embedding"]"""
    return _embed(step, encoding_format="float")


def _embed_default(step: dict) -> dict:
    """litellm.embedding(model="openai/<model>", input): data[i]["embedding"] (no encoding_format sent)"""
    return _embed(step)


def _models(step: dict) -> dict:
    """litellm.get_valid_models(check_provider_endpoint=True, custom_llm_provider="openai", api_base, api_key)"""
    # Each step is a fresh application: LiteLLM caches model lists per api_base for 5 minutes, and
    # the worker's replay server keeps its address across steps (other modes, other providers).
    litellm.utils._model_cache = litellm.utils.AvailableModelsCache()
    ids = litellm.get_valid_models(check_provider_endpoint=True, custom_llm_provider="openai",
                                   api_base=step["base_url"], api_key=step["api_key"])
    return {"ids": ids}


CALLS: dict[str, Callable[[dict], dict]] = {
    "chat": _chat,
    "chat_stream": _chat_stream,
    "tools": _tools,
    "tools_stream": _tools_stream,
    "tool_turn": _tool_turn,
    "structured": _structured,
    "embed_float": _embed_float,
    "embed_default": _embed_default,
    "models": _models,
}
CALLS["error"] = error_call(CALLS["chat"])
