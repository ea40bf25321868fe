"""Replay adapter for the OpenAI Agents SDK (openai-agents): the calls an application would make.

Every call is an `Agent` run by `Runner.run` or `Runner.run_streamed` over an `AsyncOpenAI` client built
for the step (base_url, api_key, max_retries=0, the step's timeout). The agent_* calls put the agent on
`OpenAIResponsesModel` (the Responses API, the SDK's default); chat, chat_stream, tool_turn and structured
put it on `OpenAIChatCompletionsModel`, the model the SDK's docs name for providers other than OpenAI, whose
own stream handler turns chat chunks into Responses events. The agent takes the request's instructions
and token cap, the run its input (a string, Responses input items, or the chat messages, which are valid
input items). The tool agents have one `@function_tool`, `get_weather(city)`, that records its arguments and
returns `step["tool_result"]` as JSON; the SDK runs it and sends the output back itself. Structured output
is the agent's `output_type` (a pydantic model built from the request's schema, sent as strict
json_schema and parsed by the SDK). Runner-managed model retries are opt-in (`ModelSettings.retry`) and
stay off. Usage is the run's `context_wrapper.usage` (zeros when the provider sent none).

Left out: tools and tools_stream (an agent always runs the tools it is given; handing the calls over
unexecuted needs the `Model.get_response` internals, not an application API), embed_* and models (the
SDK has no embeddings or model-listing API).

Outbound calls: tracing would export spans to api.openai.com; it is disabled twice, by
OPENAI_AGENTS_DISABLE_TRACING (read when the trace provider first looks) and by set_tracing_disabled(True).
The client is handed to the model only, never to set_default_openai_client (which would also use it for
tracing).
"""

from __future__ import annotations

import os

os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # before the SDK is imported: the env flag is read once

import importlib.metadata
import json
from typing import Any, Callable

from agents import (
    Agent,
    Model,
    ModelSettings,
    OpenAIChatCompletionsModel,
    OpenAIResponsesModel,
    RunResultStreaming,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.result import RunResultBase
from openai import AsyncOpenAI
from replay_common import schema_model as _schema_model, sync as _sync, error_call  # noqa: E402 (beside this file)

set_tracing_disabled(True)

AGENT_NAME = "conformance-replay"


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in ("openai-agents", "openai", "pydantic")}


def _client(step: dict) -> AsyncOpenAI:
    """The step's client; used as `async with`, so it closes inside the step's event loop."""
    return AsyncOpenAI(base_url=step["base_url"], api_key=step["api_key"], max_retries=0, timeout=step["timeout_s"])


def _settings(request: dict, **kwargs: Any) -> ModelSettings:
    """Model settings with the request's token cap (chat or Responses spelling)."""
    cap = request.get("max_tokens") or request.get("max_completion_tokens") or request.get("max_output_tokens")
    return ModelSettings(max_tokens=cap, **kwargs)


def _input(request: dict) -> Any:
    """The run's input: a Responses request's input, or a chat request's messages (valid input items)."""
    return request["input"] if "input" in request else request["messages"]


def _agent(step: dict, model: Model, tools: list[Any] | None = None, **kwargs: Any) -> Agent:
    """An agent on the given model with the request's instructions and token cap."""
    request = step["request"]
    settings = kwargs.pop("model_settings", None) or _settings(request)
    return Agent(name=AGENT_NAME, instructions=request.get("instructions"), model=model, model_settings=settings,
                 tools=tools or [], **kwargs)


def _responses_agent(step: dict, client: AsyncOpenAI, tools: list[Any] | None = None) -> Agent:
    return _agent(step, OpenAIResponsesModel(model=step["model"], openai_client=client), tools)


def _chat_agent(step: dict, client: AsyncOpenAI, tools: list[Any] | None = None, **kwargs: Any) -> Agent:
    return _agent(step, OpenAIChatCompletionsModel(model=step["model"], openai_client=client), tools, **kwargs)


def _weather_tool(step: dict, invocations: list[dict]) -> Any:
    """The application's get_weather: records what it received, answers with the step's tool result."""

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        invocations.append({"name": "get_weather", "arguments": {"city": city}})
        return json.dumps(step["tool_result"])

    return get_weather


def _usage(result: RunResultBase) -> dict:
    """The run's usage in the README's shape."""
    usage = result.context_wrapper.usage
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens}


async def _streamed(agent: Agent, step: dict) -> RunResultStreaming:
    """Runner.run_streamed with its events drained, as an application showing them would."""
    result = Runner.run_streamed(agent, _input(step["request"]))
    async for _event in result.stream_events():
        pass
    return result


# --- calls ---------------------------------------------------------------------------------------


async def _chat(step: dict) -> dict:
    """Runner.run(Agent(model=OpenAIChatCompletionsModel(...)), messages): .final_output, usage"""
    async with _client(step) as client:
        result = await Runner.run(_chat_agent(step, client), _input(step["request"]))
    return {"text": result.final_output, "usage": _usage(result)}


async def _chat_stream(step: dict) -> dict:
    """Runner.run_streamed(Agent(model=OpenAIChatCompletionsModel(...), include_usage), messages): .final_output"""
    async with _client(step) as client:
        agent = _chat_agent(step, client, model_settings=_settings(step["request"], include_usage=True))
        result = await _streamed(agent, step)
    return {"text": result.final_output, "usage": _usage(result)}


async def _chat_tool_turn(step: dict) -> dict:
    """Runner.run(Agent(model=OpenAIChatCompletionsModel(...), tools=[@function_tool get_weather]), messages)"""
    invocations: list[dict] = []
    async with _client(step) as client:
        result = await Runner.run(_chat_agent(step, client, [_weather_tool(step, invocations)]), _input(step["request"]))
    return {"invocations": invocations, "text": result.final_output}


async def _structured(step: dict) -> dict:
    """Runner.run(Agent(model=OpenAIChatCompletionsModel(...), output_type=<pydantic model>), messages).final_output"""
    spec = step["request"]["response_format"]["json_schema"]
    async with _client(step) as client:
        agent = _chat_agent(step, client, output_type=_schema_model(spec["schema"], spec["name"]))
        result = await Runner.run(agent, _input(step["request"]))
    return {"parsed": result.final_output.model_dump(mode="json")}


async def _agent_run(step: dict) -> dict:
    """Runner.run(Agent(model=OpenAIResponsesModel(...)), input).final_output"""
    async with _client(step) as client:
        result = await Runner.run(_responses_agent(step, client), _input(step["request"]))
    return {"text": result.final_output}


async def _agent_stream(step: dict) -> dict:
    """Runner.run_streamed(Agent(model=OpenAIResponsesModel(...)), input): events drained, then .final_output"""
    async with _client(step) as client:
        result = await _streamed(_responses_agent(step, client), step)
    return {"text": result.final_output}


async def _agent_tools(step: dict) -> dict:
    """Runner.run(Agent(model=OpenAIResponsesModel(...), tools=[@function_tool get_weather]), input)"""
    invocations: list[dict] = []
    async with _client(step) as client:
        result = await Runner.run(_responses_agent(step, client, [_weather_tool(step, invocations)]),
                                  _input(step["request"]))
    return {"invocations": invocations, "text": result.final_output}


CALLS: dict[str, Callable[[dict], dict]] = {
    "chat": _sync(_chat),
    "chat_stream": _sync(_chat_stream),
    "tool_turn": _sync(_chat_tool_turn),
    "structured": _sync(_structured),
    "agent_run": _sync(_agent_run),
    "agent_stream": _sync(_agent_stream),
    "agent_tools": _sync(_agent_tools),
}
CALLS["error"] = error_call(CALLS["chat"])
