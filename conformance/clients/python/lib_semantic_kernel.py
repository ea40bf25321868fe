"""Replay adapter for Semantic Kernel for Python (semantic-kernel): the calls an application would make.

Chat goes through `OpenAIChatCompletion` (the OpenAI connector) with an `AsyncOpenAI` client built for the
step (base_url, api_key, max_retries=0, the step's timeout), asked with `get_chat_message_content` or
`get_streaming_chat_message_content` over a `ChatHistory` of the request's messages. Streamed pieces are
added up with `+`, the library's own accumulation; the connector always asks for stream usage
(stream_options.include_usage). Tools are kernel functions, one `KernelFunctionFromMethod` per tool of
the request with its parameters' JSON schemas as the parameter metadata (as `@kernel_function` would build
them from a signature), in one plugin: `FunctionChoiceBehavior.Auto(auto_invoke=False)` hands the calls
over as `FunctionCallContent`; `tool_turn` leaves auto-invoke on, so the kernel runs them and sends the
results back. Structured output is `response_format=<pydantic model>` (sent as strict json_schema), and
the application parses the answer with `model_validate_json`. Embeddings go through `OpenAITextEmbedding`
on the same kind of client.

Usage: the connector keeps prompt and completion tokens in `metadata["usage"]` (its own CompletionUsage,
which has no total), so total_tokens is reported as None.

The agent_* calls use `OpenAIResponsesAgent` (the library's Responses-API agent, marked experimental) on
the same kind of client, stateless (store_enabled=False): `get_response` / `invoke_stream` with the
request's input, instructions and max_output_tokens; the tool agent gets the plugin above and runs it.

Left out: `models` (Semantic Kernel has no API to list a service's models).

Outbound calls: none besides base_url. AZURE_TELEMETRY_DISABLED turns off the only "telemetry" (a
semantic-kernel-version header and user-agent prefix); OpenTelemetry diagnostics are off unless the
SEMANTICKERNEL_EXPERIMENTAL_GENAI_ENABLE_OTEL_DIAGNOSTICS* variables turn them on. The connector's
settings also read OPENAI_* variables and a `.env` in the working directory; the model id and the client
given here take precedence.
"""

from __future__ import annotations

import os

os.environ["AZURE_TELEMETRY_DISABLED"] = "true"  # read once, when semantic_kernel is imported

import importlib.metadata
import json
from typing import Any, Callable

from openai import AsyncOpenAI
from semantic_kernel import Kernel
from semantic_kernel.agents import OpenAIResponsesAgent
from semantic_kernel.connectors.ai.function_choice_behavior import FunctionChoiceBehavior
from semantic_kernel.connectors.ai.open_ai import (
    OpenAIChatCompletion,
    OpenAIChatPromptExecutionSettings,
    OpenAIEmbeddingPromptExecutionSettings,
    OpenAITextEmbedding,
)
from semantic_kernel.contents import (
    AuthorRole,
    ChatHistory,
    ChatMessageContent,
    FunctionCallContent,
    StreamingChatMessageContent,
)
from semantic_kernel.functions import KernelFunctionFromMethod, KernelParameterMetadata, KernelPlugin, kernel_function
from replay_common import schema_model as _schema_model, sync as _sync, error_call  # noqa: E402 (beside this file)

PLUGIN_NAME = "replay"
AGENT_NAME = "conformance_replay"


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in ("semantic-kernel", "openai", "pydantic")}


# --- building blocks -----------------------------------------------------------------------------


def _client(step: dict) -> AsyncOpenAI:
    """The step's client; used as `async with`, so it closes inside the step's event loop."""
    return AsyncOpenAI(base_url=step["base_url"], api_key=step["api_key"], max_retries=0, timeout=step["timeout_s"])


async def _ask(step: dict, settings: OpenAIChatPromptExecutionSettings, kernel: Kernel | None = None) -> ChatMessageContent:
    """One get_chat_message_content over the request's messages."""
    async with _client(step) as client:
        service = OpenAIChatCompletion(ai_model_id=step["model"], async_client=client)
        return await service.get_chat_message_content(_history(step["request"]), settings, kernel=kernel)


def _text(content: Any) -> str:
    """A message's content as text (a string, or an array of text parts)."""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content or [])


def _history(request: dict) -> ChatHistory:
    """The request's messages (text turns) as a ChatHistory."""
    history = ChatHistory()
    for message in request["messages"]:
        history.add_message(ChatMessageContent(role=AuthorRole(message["role"]), content=_text(message["content"])))
    return history


def _settings(step: dict, **kwargs: Any) -> OpenAIChatPromptExecutionSettings:
    """Execution settings with the request's token cap."""
    request = step["request"]
    caps = {key: request[key] for key in ("max_tokens", "max_completion_tokens") if key in request}
    return OpenAIChatPromptExecutionSettings(**caps, **kwargs)


def _usage(message: ChatMessageContent | None) -> dict | None:
    """The connector's usage in the README's shape (its CompletionUsage has no total)."""
    usage = message.metadata.get("usage") if message is not None else None
    if usage is None:
        return None
    return {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens, "total_tokens": None}


def _functions(request: dict) -> list[dict]:
    """The request's function tools as {name, description, parameters}."""
    return [tool.get("function", tool) for tool in request.get("tools") or [] if tool.get("type") == "function"]


def _parameters(schema: dict) -> list[KernelParameterMetadata]:
    required = set(schema.get("required", []))
    return [KernelParameterMetadata(name=name, description=spec.get("description"), type=spec.get("type"),
                                    is_required=name in required, schema_data=spec)
            for name, spec in (schema.get("properties") or {}).items()]


def _plugin(step: dict, invocations: list[dict]) -> KernelPlugin:
    """One plugin holding a function per tool of the request; each records its arguments and returns the
    step's tool result as JSON."""

    def make(function: dict) -> KernelFunctionFromMethod:
        @kernel_function(name=function["name"], description=function.get("description"))
        def tool(**arguments: Any) -> str:
            invocations.append({"name": function["name"], "arguments": arguments})
            return json.dumps(step["tool_result"])

        return KernelFunctionFromMethod(tool, plugin_name=PLUGIN_NAME,
                                        parameters=_parameters(function.get("parameters") or {}))

    return KernelPlugin(name=PLUGIN_NAME, functions=[make(f) for f in _functions(step["request"])])


def _kernel(step: dict, invocations: list[dict]) -> Kernel:
    kernel = Kernel()
    kernel.add_plugin(_plugin(step, invocations))
    return kernel


def _tool_calls(message: ChatMessageContent | None) -> dict:
    """The message's text and the function calls handed to the application (arguments parsed the library's way)."""
    if message is None:
        return {"text": None, "tool_calls": []}
    calls = [{"id": item.id, "name": item.function_name, "arguments": item.parse_arguments()}
             for item in message.items if isinstance(item, FunctionCallContent)]
    return {"text": message.content, "tool_calls": calls}


async def _streamed(step: dict, settings: OpenAIChatPromptExecutionSettings,
                    kernel: Kernel | None = None) -> StreamingChatMessageContent | None:
    """One get_streaming_chat_message_content, its pieces added up with `+` (the library's accumulation);
    None when the stream yielded no piece."""
    total = None
    async with _client(step) as client:
        service = OpenAIChatCompletion(ai_model_id=step["model"], async_client=client)
        async for piece in service.get_streaming_chat_message_content(_history(step["request"]), settings, kernel=kernel):
            total = piece if total is None else total + piece
    return total


# --- calls ---------------------------------------------------------------------------------------


async def _chat(step: dict) -> dict:
    """OpenAIChatCompletion.get_chat_message_content(history, settings)"""
    message = await _ask(step, _settings(step))
    return {"text": message.content, "usage": _usage(message)}


async def _chat_stream(step: dict) -> dict:
    """OpenAIChatCompletion.get_streaming_chat_message_content(history, settings), pieces added with +"""
    message = await _streamed(step, _settings(step))
    return {"text": message.content if message is not None else None, "usage": _usage(message)}


def _manual_tools(step: dict) -> tuple[Kernel, OpenAIChatPromptExecutionSettings]:
    kernel = _kernel(step, [])
    return kernel, _settings(step, function_choice_behavior=FunctionChoiceBehavior.Auto(auto_invoke=False))


async def _tools(step: dict) -> dict:
    """get_chat_message_content(history, settings, kernel) with FunctionChoiceBehavior.Auto(auto_invoke=False)"""
    kernel, settings = _manual_tools(step)
    return _tool_calls(await _ask(step, settings, kernel))


async def _tools_stream(step: dict) -> dict:
    """get_streaming_chat_message_content(history, settings, kernel), auto_invoke=False, pieces added with +"""
    kernel, settings = _manual_tools(step)
    return _tool_calls(await _streamed(step, settings, kernel))


async def _tool_turn(step: dict) -> dict:
    """get_chat_message_content(history, settings, kernel) with FunctionChoiceBehavior.Auto(): the kernel runs the tools"""
    invocations: list[dict] = []
    settings = _settings(step, function_choice_behavior=FunctionChoiceBehavior.Auto())
    message = await _ask(step, settings, _kernel(step, invocations))
    return {"invocations": invocations, "text": message.content}


async def _structured(step: dict) -> dict:
    """get_chat_message_content with response_format=<pydantic model>, then Model.model_validate_json(content)"""
    spec = step["request"]["response_format"]["json_schema"]
    model = _schema_model(spec["schema"], spec["name"])
    message = await _ask(step, _settings(step, response_format=model))
    return {"parsed": model.model_validate_json(message.content).model_dump(mode="json")}


async def _embed(step: dict, settings: OpenAIEmbeddingPromptExecutionSettings | None) -> dict:
    inputs = step["request"]["input"]
    async with _client(step) as client:
        service = OpenAITextEmbedding(ai_model_id=step["model"], async_client=client)
        vectors = await service.generate_embeddings(inputs if isinstance(inputs, list) else [inputs], settings=settings)
    return {"vectors": vectors.tolist()}


async def _embed_float(step: dict) -> dict:
    """OpenAITextEmbedding.generate_embeddings(texts, OpenAIEmbeddingPromptExecutionSettings(encoding_format="float"))"""
    return await _embed(step, OpenAIEmbeddingPromptExecutionSettings(encoding_format="float"))


async def _embed_default(step: dict) -> dict:
    """OpenAITextEmbedding.generate_embeddings(texts)"""
    return await _embed(step, None)


def _agent_input(request: dict) -> str | list[ChatMessageContent]:
    """A Responses request's input: a string, or its role items (text turns) as messages."""
    items = request["input"]
    if isinstance(items, str):
        return items
    return [ChatMessageContent(role=AuthorRole(item["role"]), content=_text(item["content"])) for item in items]


def _agent(step: dict, client: AsyncOpenAI, plugins: list[KernelPlugin] | None = None) -> OpenAIResponsesAgent:
    """The Responses agent, stateless (store_enabled=False): each turn sends the whole conversation, as a
    provider without stored responses needs. semantic-kernel 1.45 sends the user turn twice either way
    (the thread's copy and the call's); stored, the tool turn's repeat beside previous_response_id puts it
    between the function call and its output, which the reference server refuses."""
    return OpenAIResponsesAgent(ai_model_id=step["model"], client=client, name=AGENT_NAME,
                                instructions=step["request"].get("instructions"), plugins=plugins,
                                store_enabled=False)


async def _agent_run(step: dict) -> dict:
    """OpenAIResponsesAgent.get_response(messages=input, max_output_tokens=...)"""
    request = step["request"]
    async with _client(step) as client:
        response = await _agent(step, client).get_response(messages=_agent_input(request),
                                                           max_output_tokens=request.get("max_output_tokens"))
    return {"text": response.content.content}


async def _agent_stream(step: dict) -> dict:
    """OpenAIResponsesAgent.invoke_stream(messages=input, max_output_tokens=...), pieces added with +"""
    request = step["request"]
    total = None
    async with _client(step) as client:
        async for item in _agent(step, client).invoke_stream(messages=_agent_input(request),
                                                             max_output_tokens=request.get("max_output_tokens")):
            total = item.content if total is None else total + item.content
    return {"text": total.content if total is not None else None}


async def _agent_tools(step: dict) -> dict:
    """OpenAIResponsesAgent(plugins=[the tools]).get_response(messages=input): the agent runs the tools"""
    request = step["request"]
    invocations: list[dict] = []
    async with _client(step) as client:
        agent = _agent(step, client, [_plugin(step, invocations)])
        response = await agent.get_response(messages=_agent_input(request),
                                            max_output_tokens=request.get("max_output_tokens"))
    return {"invocations": invocations, "text": response.content.content}


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
