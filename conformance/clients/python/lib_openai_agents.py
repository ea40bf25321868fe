"""Replay adapter for the OpenAI Agents SDK (openai-agents): the calls an application would make.

Every call is an `Agent` on `OpenAIResponsesModel` (the Responses API) over an `AsyncOpenAI` client built
for the step (base_url, api_key, max_retries=0, the step's timeout), run by `Runner.run` or
`Runner.run_streamed`. The agent takes the request's `instructions` and `max_output_tokens`, the run its
`input` (a string or a list of Responses input items). The tool agent has one `@function_tool`,
`get_weather(city)`, that records its arguments and returns `step["tool_result"]` as JSON; the SDK runs it
and sends the output back itself. Runner-managed model retries are opt-in (`ModelSettings.retry`) and
stay off.

Left out: chat, chat_stream, tools, tools_stream, tool_turn, structured (the SDK's chat-completions
model exists, but the agent_* calls are what this library is for, and the Responses model is its default),
embed_* and models (the SDK has no embeddings or model-listing API).

Outbound calls: tracing would export spans to api.openai.com; it is disabled twice, by
OPENAI_AGENTS_DISABLE_TRACING (read when the trace provider first looks) and by set_tracing_disabled(True).
The client is handed to the model only, never to set_default_openai_client (which would also use it for
tracing).
"""

from __future__ import annotations

import os

os.environ["OPENAI_AGENTS_DISABLE_TRACING"] = "1"  # before the SDK is imported: the env flag is read once

import asyncio
import functools
import importlib.metadata
import json
from typing import Any, Callable

from agents import Agent, ModelSettings, OpenAIResponsesModel, Runner, function_tool, set_tracing_disabled
from openai import AsyncOpenAI

set_tracing_disabled(True)

AGENT_NAME = "conformance-replay"


def versions() -> dict[str, str]:
    """Versions of the packages that decide how responses are read."""
    return {name: importlib.metadata.version(name) for name in ("openai-agents", "openai", "pydantic")}


def _client(step: dict) -> AsyncOpenAI:
    """The step's client; used as `async with`, so it closes inside the step's event loop."""
    return AsyncOpenAI(base_url=step["base_url"], api_key=step["api_key"], max_retries=0, timeout=step["timeout_s"])


def _agent(step: dict, client: AsyncOpenAI, tools: list[Any] | None = None) -> Agent:
    """An agent on the Responses model with the request's instructions and output-token cap."""
    request = step["request"]
    model = OpenAIResponsesModel(model=step["model"], openai_client=client)
    return Agent(name=AGENT_NAME, instructions=request.get("instructions"), model=model,
                 model_settings=ModelSettings(max_tokens=request.get("max_output_tokens")), tools=tools or [])


def _weather_tool(step: dict, invocations: list[dict]) -> Any:
    """The application's get_weather: records what it received, answers with the step's tool result."""

    @function_tool
    def get_weather(city: str) -> str:
        """Get the current weather for a city."""
        invocations.append({"name": "get_weather", "arguments": {"city": city}})
        return json.dumps(step["tool_result"])

    return get_weather


async def _agent_run(step: dict) -> dict:
    """Runner.run(Agent(model=OpenAIResponsesModel(...)), input).final_output"""
    async with _client(step) as client:
        result = await Runner.run(_agent(step, client), step["request"]["input"])
    return {"text": result.final_output}


async def _agent_stream(step: dict) -> dict:
    """Runner.run_streamed(agent, input): stream_events() drained, then .final_output"""
    async with _client(step) as client:
        result = Runner.run_streamed(_agent(step, client), step["request"]["input"])
        async for _event in result.stream_events():
            pass
    return {"text": result.final_output}


async def _agent_tools(step: dict) -> dict:
    """Runner.run(Agent(tools=[@function_tool get_weather]), input): invocations, .final_output"""
    invocations: list[dict] = []
    async with _client(step) as client:
        result = await Runner.run(_agent(step, client, [_weather_tool(step, invocations)]), step["request"]["input"])
    return {"invocations": invocations, "text": result.final_output}


def _sync(call: Callable[[dict], Any]) -> Callable[[dict], dict]:
    """The async call run to completion in a fresh event loop (its docstring says how it is spelled)."""
    return functools.wraps(call)(lambda step: asyncio.run(call(step)))


CALLS: dict[str, Callable[[dict], dict]] = {
    "agent_run": _sync(_agent_run),
    "agent_stream": _sync(_agent_stream),
    "agent_tools": _sync(_agent_tools),
}
