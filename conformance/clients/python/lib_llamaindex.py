"""Replay adapter for LlamaIndex (OpenAILike LLM, OpenAILikeEmbedding): the calls an application would make.

The LLM is `OpenAILike(is_chat_model=True, is_function_calling_model=True)`, the class LlamaIndex offers
for OpenAI-compatible servers, with max_retries=0 (which also turns off its own tenacity retry decorator)
and the step's timeout. Tools are `FunctionTool`s whose `fn_schema` is built from the request's JSON
schema; the tool turn is the manual loop of LlamaIndex's docs (chat_with_tools, get_tool_calls_from_response,
a role "tool" message per call, chat_with_tools again), not a FunctionAgent. Tool calls are asked with
allow_parallel_tool_calls=True: by default LlamaIndex sends parallel_tool_calls=false and keeps only the
first call of a response.

Left out:
- `models`: LlamaIndex has no API to list a server's models.
- `agent_run`, `agent_stream`, `agent_tools`: LlamaIndex's Responses-API LLM (`OpenAIResponses`) is for
  OpenAI's own models only (it derives function calling support and the context window from OpenAI model
  names; there is no OpenAILike counterpart), so an agent over it cannot use a replayed model.

Outbound calls: none besides base_url. OpenAILike has no tokenizer unless one is given (tiktoken is never
used); llama-index-core ships its tiktoken encodings and NLTK data (`_static/`) and only fetches NLTK data
when a text splitter or keyword index asks for it, which these calls never do; no telemetry exists.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Callable

from llama_index.core.llms import ChatMessage
from llama_index.core.prompts import ChatPromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.openai_like import OpenAILikeEmbedding
from llama_index.llms.openai_like import OpenAILike
from replay_common import schema_model as _schema_model, error_call  # noqa: E402 (beside this file)

MAX_TOOL_ROUNDS = 4  # a replay serves one recorded answer per round; more rounds mean a loop gone wrong
PACKAGES = ("llama-index-core", "llama-index-llms-openai-like", "llama-index-llms-openai",
            "llama-index-embeddings-openai-like", "llama-index-embeddings-openai", "openai", "pydantic")


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in PACKAGES}


# --- building blocks -----------------------------------------------------------------------------


def _llm(step: dict, **kwargs: Any) -> OpenAILike:
    request = step["request"]
    return OpenAILike(model=step["model"], api_base=step["base_url"], api_key=step["api_key"],
                      is_chat_model=True, is_function_calling_model=True, max_retries=0,
                      timeout=step["timeout_s"], max_tokens=request.get("max_tokens") or request.get(
                          "max_completion_tokens"), **kwargs)


def _text(content: Any) -> str:
    """A message's content as text (a string, or an array of text parts)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


def _messages(request: dict) -> list[ChatMessage]:
    return [ChatMessage(role=m["role"], content=_text(m.get("content"))) for m in request["messages"]]


def _usage(additional_kwargs: dict) -> dict | None:
    """The token counts LlamaIndex copies into ChatResponse.additional_kwargs ({} when it found none)."""
    keys = ("prompt_tokens", "completion_tokens", "total_tokens")
    return {key: additional_kwargs[key] for key in keys} if any(k in additional_kwargs for k in keys) else None


def _tools(step: dict, invocations: list[dict] | None = None) -> list[FunctionTool]:
    """A FunctionTool per function of the request; each records its arguments and returns the step's result."""
    def make(name: str) -> Callable[..., Any]:
        def tool(**arguments: Any) -> Any:
            if invocations is not None:
                invocations.append({"name": name, "arguments": arguments})
            return step.get("tool_result")
        return tool
    functions = [t["function"] for t in step["request"].get("tools") or [] if t.get("type") == "function"]
    return [FunctionTool.from_defaults(make(f["name"]), name=f["name"], description=f.get("description", ""),
                                       fn_schema=_schema_model(f.get("parameters") or {}, f["name"]))
            for f in functions]


def _tool_calls(llm: OpenAILike, response: Any) -> dict:
    selections = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    calls = [{"id": s.tool_id, "name": s.tool_name, "arguments": s.tool_kwargs} for s in selections]
    return {"text": response.message.content, "tool_calls": calls}


# --- calls ---------------------------------------------------------------------------------------


def _chat(step: dict) -> dict:
    """OpenAILike.chat(messages): response.message.content, response.additional_kwargs token counts"""
    response = _llm(step).chat(_messages(step["request"]))
    return {"text": response.message.content, "usage": _usage(response.additional_kwargs)}


def _chat_stream(step: dict) -> dict:
    """OpenAILike(additional_kwargs={stream_options: {include_usage: true}}).stream_chat(messages)

    The text is the deltas joined; usage is what the last ChatResponse carries.
    """
    llm = _llm(step, additional_kwargs={"stream_options": {"include_usage": True}})
    text, last = "", None
    for last in llm.stream_chat(_messages(step["request"])):
        text += last.delta or ""
    return {"text": text, "usage": _usage(last.additional_kwargs) if last is not None else None}


def _tools_call(step: dict) -> dict:
    """OpenAILike.chat_with_tools(FunctionTools, chat_history) + get_tool_calls_from_response(response)"""
    llm = _llm(step)
    response = llm.chat_with_tools(_tools(step), chat_history=_messages(step["request"]),
                                   allow_parallel_tool_calls=True, tool_choice=step["request"].get("tool_choice"))
    return _tool_calls(llm, response)


def _tools_stream(step: dict) -> dict:
    """OpenAILike.stream_chat_with_tools(FunctionTools, chat_history) + get_tool_calls_from_response(last)"""
    llm = _llm(step)
    last = None
    for last in llm.stream_chat_with_tools(_tools(step), chat_history=_messages(step["request"]),
                                           allow_parallel_tool_calls=True,
                                           tool_choice=step["request"].get("tool_choice")):
        pass
    if last is None:  # the stream ended before LlamaIndex yielded anything: the application gets nothing
        return {"text": None, "tool_calls": []}
    return _tool_calls(llm, last)


def _tool_turn(step: dict) -> dict:
    """chat_with_tools / get_tool_calls_from_response / FunctionTool(**kwargs) loop, results as role "tool" messages"""
    llm, invocations = _llm(step), []
    tools = _tools(step, invocations)
    by_name = {tool.metadata.name: tool for tool in tools}
    history = _messages(step["request"])
    response = llm.chat_with_tools(tools, chat_history=history, allow_parallel_tool_calls=True)
    calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    for _round in range(MAX_TOOL_ROUNDS):
        if not calls:
            return {"invocations": invocations, "text": response.message.content}
        history.append(response.message)
        for call in calls:
            output = by_name[call.tool_name](**call.tool_kwargs)
            history.append(ChatMessage(role="tool", content=str(output),
                                       additional_kwargs={"tool_call_id": call.tool_id}))
        response = llm.chat_with_tools(tools, chat_history=history, allow_parallel_tool_calls=True)
        calls = llm.get_tool_calls_from_response(response, error_on_no_tool_call=False)
    raise RuntimeError(f"still calling tools after {MAX_TOOL_ROUNDS} rounds")


def _structured(step: dict) -> dict:
    """OpenAILike(should_use_structured_outputs=True).structured_predict(Model, ChatPromptTemplate(messages))

    should_use_structured_outputs makes LlamaIndex send response_format json_schema (strict) instead of
    its default for OpenAILike, a forced function call.
    """
    spec = step["request"]["response_format"]["json_schema"]
    model = _schema_model(spec["schema"], spec["name"])
    prompt = ChatPromptTemplate(message_templates=_messages(step["request"]))
    parsed = _llm(step, should_use_structured_outputs=True).structured_predict(model, prompt)
    return {"parsed": parsed.model_dump(mode="json")}


def _embed(step: dict, additional_kwargs: dict | None) -> dict:
    embedder = OpenAILikeEmbedding(model_name=step["model"], api_base=step["base_url"], api_key=step["api_key"],
                                   max_retries=0, timeout=step["timeout_s"], additional_kwargs=additional_kwargs)
    inputs = step["request"]["input"]
    return {"vectors": embedder.get_text_embedding_batch(inputs if isinstance(inputs, list) else [inputs])}


def _embed_float(step: dict) -> dict:
    """OpenAILikeEmbedding(additional_kwargs={encoding_format: float}).get_text_embedding_batch(texts)"""
    return _embed(step, {"encoding_format": "float"})


def _embed_default(step: dict) -> dict:
    """OpenAILikeEmbedding.get_text_embedding_batch(texts)"""
    return _embed(step, None)


CALLS: dict[str, Callable[[dict], dict]] = {
    "chat": _chat,
    "chat_stream": _chat_stream,
    "tools": _tools_call,
    "tools_stream": _tools_stream,
    "tool_turn": _tool_turn,
    "structured": _structured,
    "embed_float": _embed_float,
    "embed_default": _embed_default,
}
CALLS["error"] = error_call(CALLS["chat"])
