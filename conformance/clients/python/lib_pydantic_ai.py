"""Replay adapter for Pydantic AI (pydantic-ai-slim[openai]): the calls an application would make.

Chat goes through an `Agent` on `OpenAIChatModel` with an `OpenAICompatibleProvider` (the provider the
library's docs name for a service that is not OpenAI; `OpenAIProvider` is for OpenAI or a transparent
proxy to it). Tools that are bound but not executed go through `pydantic_ai.direct.model_request[_stream]`
(the library's model-request API, which returns the model's tool calls instead of running them); the tool
loop is an Agent with one `Tool.from_schema` per tool of the request (a real tool built from the recorded
JSON schema, as `@agent.tool_plain` would build it from a signature). The `agent_*` calls use
`OpenAIResponsesModel`. Retries are off and the timeout is set through `ModelSettings`; the Agent's own
output retries are 0, so a response the library cannot use raises instead of asking the server again.

Left out: `models` (Pydantic AI has no API to list a provider's models).

Outbound calls: none besides base_url. Logfire instrumentation is off unless an application turns it on
(only `logfire-api`, the no-op shim, is installed); prices come from genai-prices' bundled snapshot
(`pydantic_ai.prices.update_in_background` is never called), and tiktoken is used only by the realtime
API and `count_tokens`, which are never called.
"""

from __future__ import annotations

import importlib.metadata
from typing import Any, Callable

from openai import AsyncOpenAI
from pydantic_ai import Agent, ModelRequest, ModelResponse, NativeOutput, TextPart, Tool, ToolCallPart
from pydantic_ai.direct import model_request, model_request_stream
from pydantic_ai.embeddings import Embedder
from pydantic_ai.embeddings.openai import OpenAIEmbeddingModel
from pydantic_ai.models import ModelRequestParameters
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.openai_compatible import OpenAICompatibleProvider
from pydantic_ai.settings import ModelSettings
from pydantic_ai.tools import ToolDefinition
from replay_common import schema_model as _schema_model, sync as _sync, error_call  # noqa: E402 (beside this file)

PROVIDER_NAME = "conformance-replay"


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in ("pydantic-ai-slim", "openai", "pydantic")}


# --- building blocks -----------------------------------------------------------------------------


def _provider(step: dict) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(PROVIDER_NAME, base_url=step["base_url"], api_key=step["api_key"])


def _chat_model(step: dict) -> OpenAIChatModel:
    return OpenAIChatModel(step["model"], provider=_provider(step))


def _responses_model(step: dict) -> OpenAIResponsesModel:
    return OpenAIResponsesModel(step["model"], provider=_provider(step))


def _settings(step: dict) -> ModelSettings:
    """One attempt, the step's timeout, and the request's token cap."""
    request = step["request"]
    settings = ModelSettings(max_retries=0, timeout=step["timeout_s"])
    cap = request.get("max_tokens") or request.get("max_completion_tokens") or request.get("max_output_tokens")
    if cap is not None:
        settings["max_tokens"] = cap
    return settings


def _text(content: Any) -> str:
    """A message's content as text (a string, or an array of text parts)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


def _conversation(request: dict) -> tuple[list[str], list[Any], str]:
    """(system prompts, earlier turns as Pydantic AI messages, the last user prompt) of a request."""
    if "input" in request and "messages" not in request:
        items = request["input"]
        messages = [{"role": "user", "content": items}] if isinstance(items, str) else items
        if request.get("instructions"):
            messages = [{"role": "system", "content": request["instructions"]}, *messages]
    else:
        messages = request["messages"]
    system = [_text(m["content"]) for m in messages if m["role"] in ("system", "developer")]
    turns = [m for m in messages if m["role"] not in ("system", "developer")]
    history: list[Any] = []
    for message in turns[:-1]:
        if message["role"] == "assistant":
            history.append(ModelResponse(parts=[TextPart(_text(message["content"]))]))
        else:
            history.append(ModelRequest.user_text_prompt(_text(message["content"])))
    return system, history, _text(turns[-1]["content"])


def _functions(request: dict) -> list[dict]:
    """The request's function tools as {name, description, parameters}, from chat or Responses shape."""
    return [tool.get("function", tool) for tool in request.get("tools") or [] if tool.get("type") == "function"]


def _tool_definitions(request: dict) -> list[ToolDefinition]:
    return [ToolDefinition(name=f["name"], description=f.get("description"),
                           parameters_json_schema=f.get("parameters") or {"type": "object", "properties": {}})
            for f in _functions(request)]


def _usage(usage: Any) -> dict | None:
    """The library's usage object in the README's shape."""
    if usage is None:
        return None
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens}


def _tool_calls(response: ModelResponse) -> dict:
    """Text and tool calls of a model response, with the arguments the library hands over."""
    calls = [{"id": part.tool_call_id, "name": part.tool_name, "arguments": part.args_as_dict()}
             for part in response.parts if isinstance(part, ToolCallPart)]
    return {"text": response.text, "tool_calls": calls}


def _agent(step: dict, model: Any, **kwargs: Any) -> tuple[Agent, list[Any], str]:
    system, history, prompt = _conversation(step["request"])
    agent = Agent(model, system_prompt=system, model_settings=_settings(step), retries=0, **kwargs)
    return agent, history, prompt


# --- calls ---------------------------------------------------------------------------------------


async def _chat(step: dict) -> dict:
    """Agent(OpenAIChatModel).run(prompt): result.output, result.usage"""
    async with _chat_model(step) as model:
        agent, history, prompt = _agent(step, model)
        result = await agent.run(prompt, message_history=history)
    return {"text": result.output, "usage": _usage(result.usage)}


async def _chat_stream(step: dict) -> dict:
    """Agent(OpenAIChatModel).run_stream(prompt): result.stream_text(delta=True), result.usage

    Pydantic AI always asks for stream usage (stream_options.include_usage) on chat completions.
    """
    async with _chat_model(step) as model:
        agent, history, prompt = _agent(step, model)
        async with agent.run_stream(prompt, message_history=history) as result:
            text = "".join([delta async for delta in result.stream_text(delta=True)])
    return {"text": text, "usage": _usage(result.usage)}


def _direct_parts(step: dict) -> tuple[list[Any], ModelRequestParameters]:
    system, history, prompt = _conversation(step["request"])
    request = ModelRequest.user_text_prompt(prompt, instructions="\n\n".join(system) or None)
    params = ModelRequestParameters(function_tools=_tool_definitions(step["request"]), allow_text_output=True)
    return [*history, request], params


async def _tools(step: dict) -> dict:
    """pydantic_ai.direct.model_request(OpenAIChatModel, function_tools): ToolCallPart.args_as_dict()"""
    messages, params = _direct_parts(step)
    async with _chat_model(step) as model:
        response = await model_request(model, messages, model_settings=_settings(step),
                                       model_request_parameters=params)
    return _tool_calls(response)


async def _tools_stream(step: dict) -> dict:
    """pydantic_ai.direct.model_request_stream(OpenAIChatModel, function_tools): stream.get() ToolCallParts"""
    messages, params = _direct_parts(step)
    async with _chat_model(step) as model, model_request_stream(
            model, messages, model_settings=_settings(step), model_request_parameters=params) as stream:
        async for _event in stream:
            pass
    return _tool_calls(stream.get())


def _recording_tools(step: dict, invocations: list[dict]) -> list[Tool]:
    """One real tool per function of the request; each records its arguments and returns the step's result."""
    def make(name: str) -> Callable[..., Any]:
        def tool(**arguments: Any) -> Any:
            invocations.append({"name": name, "arguments": arguments})
            return step["tool_result"]
        return tool
    return [Tool.from_schema(make(f["name"]), name=f["name"], description=f.get("description"),
                             json_schema=f.get("parameters") or {"type": "object", "properties": {}})
            for f in _functions(step["request"])]


async def _tool_loop(step: dict, model_class: Callable[[dict], Any]) -> dict:
    """An Agent run whose tools (Tool.from_schema) record their arguments and return the step's result."""
    invocations: list[dict] = []
    async with model_class(step) as model:
        agent, history, prompt = _agent(step, model, tools=_recording_tools(step, invocations))
        result = await agent.run(prompt, message_history=history)
    return {"invocations": invocations, "text": result.output}


async def _structured(step: dict) -> dict:
    """Agent(OpenAIChatModel, output_type=NativeOutput(Model)).run(prompt): result.output"""
    spec = step["request"]["response_format"]["json_schema"]
    output = NativeOutput(_schema_model(spec["schema"], spec["name"]), name=spec["name"], strict=spec.get("strict"))
    async with _chat_model(step) as model:
        agent, history, prompt = _agent(step, model, output_type=output)
        result = await agent.run(prompt, message_history=history)
    return {"parsed": result.output.model_dump(mode="json")}


async def _embed(step: dict, settings: dict | None) -> dict:
    """Embedding settings have no retries or timeout, so the provider gets a client configured with them."""
    client = AsyncOpenAI(base_url=step["base_url"], api_key=step["api_key"], max_retries=0,
                         timeout=step["timeout_s"])
    embedder = Embedder(OpenAIEmbeddingModel(step["model"], provider=OpenAICompatibleProvider(
        PROVIDER_NAME, openai_client=client), settings=settings))
    inputs = step["request"]["input"]
    async with client:
        result = await embedder.embed_documents(inputs if isinstance(inputs, list) else [inputs])
    return {"vectors": [list(vector) for vector in result.embeddings]}


async def _agent_run(step: dict) -> dict:
    """Agent(OpenAIResponsesModel).run(prompt): result.output"""
    async with _responses_model(step) as model:
        agent, history, prompt = _agent(step, model)
        result = await agent.run(prompt, message_history=history)
    return {"text": result.output}


async def _agent_stream(step: dict) -> dict:
    """Agent(OpenAIResponsesModel).run_stream(prompt): result.stream_text(delta=True)"""
    async with _responses_model(step) as model:
        agent, history, prompt = _agent(step, model)
        async with agent.run_stream(prompt, message_history=history) as result:
            text = "".join([delta async for delta in result.stream_text(delta=True)])
    return {"text": text}


async def _tool_turn(step: dict) -> dict:
    """Agent(OpenAIChatModel, tools=[Tool.from_schema(...)]).run(prompt): the tool loop"""
    return await _tool_loop(step, _chat_model)


async def _agent_tools(step: dict) -> dict:
    """Agent(OpenAIResponsesModel, tools=[Tool.from_schema(...)]).run(prompt): the tool loop"""
    return await _tool_loop(step, _responses_model)


async def _embed_float(step: dict) -> dict:
    """Embedder(OpenAIEmbeddingModel, settings={extra_body: {encoding_format: float}}).embed_documents(inputs)

    Embedding settings have no encoding_format: floats are asked through extra_body, the settings' way.
    """
    return await _embed(step, {"extra_body": {"encoding_format": "float"}})


async def _embed_default(step: dict) -> dict:
    """Embedder(OpenAIEmbeddingModel).embed_documents(inputs)"""
    return await _embed(step, None)


CALLS: dict[str, Callable[[dict], dict]] = {
    "chat": _sync(_chat),
    "chat_stream": _sync(_chat_stream),
    "tools": _sync(_tools),
    "tools_stream": _sync(_tools_stream),
    "tool_turn": _sync(_tool_turn),
    "structured": _sync(_structured),
    "embed_float": _sync(_embed_float),
    "embed_default": _sync(_embed_default),
    "agent_run": _sync(_agent_run),
    "agent_stream": _sync(_agent_stream),
    "agent_tools": _sync(_agent_tools),
}
CALLS["error"] = error_call(CALLS["chat"])
