"""Replay adapter for LangChain (langchain-openai): the calls an application would make.

Chat goes through `ChatOpenAI(...).invoke` / `.stream` (chunks added up with `+`, the library's way),
tools through `.bind_tools(...)`, structured output through `.with_structured_output(Model,
method="json_schema")`, embeddings through `OpenAIEmbeddings`. The tool loop is the one LangChain's
docs show: bind `StructuredTool`s built from the request's JSON schemas, run each `AIMessage.tool_calls`
entry with `tool.invoke(tool_call)` (which returns the `ToolMessage`), and invoke again with it.
The `agent_*` calls are the same on `ChatOpenAI(use_responses_api=True)`, the library's Responses API
path. Retries are 0 and the timeout is the step's.

Left out: `models` (langchain-openai has no API to list a provider's models).

Outbound calls: LangSmith tracing is off (LANGSMITH_TRACING / LANGCHAIN_TRACING_V2 set to "false"
before import). `OpenAIEmbeddings` by default tokenizes input with tiktoken, which downloads its BPE
file from the internet on first use and then sends token ids instead of text; its docs say to set
`check_embedding_ctx_length=False` for OpenAI-compatible services, so both embedding calls do.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
from typing import Any, Callable

os.environ["LANGSMITH_TRACING"] = "false"
os.environ["LANGCHAIN_TRACING_V2"] = "false"
os.environ["LANGSMITH_TRACING_V2"] = "false"

from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, convert_to_messages  # noqa: E402
from langchain_core.tools import StructuredTool  # noqa: E402
from langchain_openai import ChatOpenAI, OpenAIEmbeddings  # noqa: E402
from replay_common import schema_model as _schema_model, error_call  # noqa: E402 (beside this file)


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name)
            for name in ("langchain-openai", "langchain-core", "openai", "pydantic")}


# --- building blocks -----------------------------------------------------------------------------


def _chat_model(step: dict, responses: bool = False, **kwargs: Any) -> ChatOpenAI:
    """ChatOpenAI at the step's server: one attempt, the step's timeout, the request's token cap."""
    request = step["request"]
    cap = request.get("max_tokens") or request.get("max_completion_tokens") or request.get("max_output_tokens")
    return ChatOpenAI(model=step["model"], base_url=step["base_url"], api_key=step["api_key"], max_retries=0,
                      timeout=step["timeout_s"], max_tokens=cap, use_responses_api=responses, **kwargs)


def _messages(request: dict) -> list[BaseMessage]:
    """The request's conversation as LangChain messages (chat `messages` or Responses `input`)."""
    if "messages" in request:
        return convert_to_messages(request["messages"])
    items = request["input"]
    messages = [{"role": "user", "content": items}] if isinstance(items, str) else list(items)
    if request.get("instructions"):
        messages = [{"role": "system", "content": request["instructions"]}, *messages]
    return convert_to_messages(messages)


def _functions(request: dict) -> list[dict]:
    """The request's function tools as {name, description, parameters}, from chat or Responses shape."""
    return [tool.get("function", tool) for tool in request.get("tools") or [] if tool.get("type") == "function"]


def _tool_dicts(request: dict) -> list[dict]:
    """The request's function tools in the OpenAI chat shape bind_tools takes."""
    return [{"type": "function", "function": function} for function in _functions(request)]


def _usage(message: AIMessage) -> dict | None:
    """The library's usage_metadata in the README's shape."""
    usage = message.usage_metadata
    if usage is None:
        return None
    return {"prompt_tokens": usage.get("input_tokens"), "completion_tokens": usage.get("output_tokens"),
            "total_tokens": usage.get("total_tokens")}


def _text(message: AIMessage) -> str | None:
    """The message's text as the library hands it over (None when it holds no text at all)."""
    return message.text or None


def _tool_calls(message: AIMessage) -> dict:
    """Text and parsed tool calls of a message (calls the library could not parse are not handed over)."""
    calls = [{"id": call["id"], "name": call["name"], "arguments": call["args"]} for call in message.tool_calls]
    return {"text": _text(message), "tool_calls": calls}


def _accumulate(chunks: Any) -> AIMessageChunk:
    """A stream's chunks added up, the way LangChain's docs accumulate them."""
    message: AIMessageChunk | None = None
    for chunk in chunks:
        message = chunk if message is None else message + chunk
    if message is None:
        raise ValueError("the stream yielded no chunk")
    return message


def _recording_tools(step: dict, invocations: list[dict]) -> list[StructuredTool]:
    """One real tool per function of the request; each records its arguments and returns the step's result."""
    def make(name: str) -> Callable[..., Any]:
        def tool(**arguments: Any) -> str:
            invocations.append({"name": name, "arguments": arguments})
            return json.dumps(step["tool_result"])
        return tool
    return [StructuredTool.from_function(func=make(f["name"]), name=f["name"], description=f.get("description", ""),
                                         args_schema=f.get("parameters") or {"type": "object", "properties": {}})
            for f in _functions(step["request"])]


def _tool_loop(step: dict, responses: bool) -> dict:
    """bind_tools(StructuredTools).invoke; tool.invoke(tool_call) -> ToolMessage for each call; invoke again."""
    invocations: list[dict] = []
    tools = _recording_tools(step, invocations)
    by_name = {tool.name: tool for tool in tools}
    model = _chat_model(step, responses).bind_tools(tools)
    messages = _messages(step["request"])
    reply = model.invoke(messages)
    messages.append(reply)
    for call in reply.tool_calls:
        messages.append(by_name[call["name"]].invoke(call))
    final = model.invoke(messages)
    return {"invocations": invocations, "text": _text(final)}


# --- calls ---------------------------------------------------------------------------------------


def _chat(step: dict) -> dict:
    """ChatOpenAI(...).invoke(messages): .text, .usage_metadata"""
    message = _chat_model(step).invoke(_messages(step["request"]))
    return {"text": _text(message), "usage": _usage(message)}


def _chat_stream(step: dict) -> dict:
    """ChatOpenAI(..., stream_usage=True).stream(messages), chunks added up: .text, .usage_metadata"""
    message = _accumulate(_chat_model(step, stream_usage=True).stream(_messages(step["request"])))
    return {"text": _text(message), "usage": _usage(message)}


def _bound(step: dict) -> Any:
    request = step["request"]
    return _chat_model(step).bind_tools(_tool_dicts(request), tool_choice=request.get("tool_choice"))


def _tools(step: dict) -> dict:
    """ChatOpenAI(...).bind_tools(tools, tool_choice).invoke(messages): .tool_calls"""
    return _tool_calls(_bound(step).invoke(_messages(step["request"])))


def _tools_stream(step: dict) -> dict:
    """ChatOpenAI(...).bind_tools(tools).stream(messages), chunks added up: .tool_calls"""
    return _tool_calls(_accumulate(_bound(step).stream(_messages(step["request"]))))


def _tool_turn(step: dict) -> dict:
    """ChatOpenAI(...).bind_tools([StructuredTool]).invoke; tool.invoke(tool_call) -> ToolMessage; .invoke again"""
    return _tool_loop(step, responses=False)


def _structured(step: dict) -> dict:
    """ChatOpenAI(...).with_structured_output(Model, method="json_schema", strict=...).invoke(messages)"""
    spec = step["request"]["response_format"]["json_schema"]
    model = _chat_model(step).with_structured_output(
        _schema_model(spec["schema"], spec["name"]), method="json_schema", strict=spec.get("strict"))
    return {"parsed": model.invoke(_messages(step["request"])).model_dump(mode="json")}


def _embed(step: dict, model_kwargs: dict) -> dict:
    embeddings = OpenAIEmbeddings(model=step["model"], base_url=step["base_url"], api_key=step["api_key"],
                                  max_retries=0, timeout=step["timeout_s"], check_embedding_ctx_length=False,
                                  model_kwargs=model_kwargs)
    inputs = step["request"]["input"]
    if isinstance(inputs, list):
        return {"vectors": embeddings.embed_documents(inputs)}
    return {"vectors": [embeddings.embed_query(inputs)]}


def _embed_float(step: dict) -> dict:
    """OpenAIEmbeddings(..., model_kwargs={"encoding_format": "float"}).embed_query(text) / .embed_documents(texts)

    OpenAIEmbeddings has no encoding_format field; model_kwargs is its way to pass one.
    """
    return _embed(step, {"encoding_format": "float"})


def _embed_default(step: dict) -> dict:
    """OpenAIEmbeddings(...).embed_query(text) / .embed_documents(texts) (openai-python then asks for base64)"""
    return _embed(step, {})


def _agent_run(step: dict) -> dict:
    """ChatOpenAI(..., use_responses_api=True).invoke(input): .text"""
    return {"text": _text(_chat_model(step, responses=True).invoke(_messages(step["request"])))}


def _agent_stream(step: dict) -> dict:
    """ChatOpenAI(..., use_responses_api=True).stream(input), chunks added up: .text"""
    return {"text": _text(_accumulate(_chat_model(step, responses=True).stream(_messages(step["request"]))))}


def _agent_tools(step: dict) -> dict:
    """ChatOpenAI(..., use_responses_api=True).bind_tools([StructuredTool]): the tool loop of tool_turn"""
    return _tool_loop(step, responses=True)


CALLS: dict[str, Callable[[dict], dict]] = {
    "chat": _chat,
    "chat_stream": _chat_stream,
    "tools": _tools,
    "tools_stream": _tools_stream,
    "tool_turn": _tool_turn,
    "structured": _structured,
    "embed_float": _embed_float,
    "embed_default": _embed_default,
    "agent_run": _agent_run,
    "agent_stream": _agent_stream,
    "agent_tools": _agent_tools,
}
CALLS["error"] = error_call(CALLS["chat"])
