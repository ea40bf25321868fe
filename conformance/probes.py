"""The requests the suite sends ("probes"), by name.

A probe is one request built for a model. Several checks read the same probe (the basic stream
feeds framing, chunk schema, ids, role, finish_reason, reassembly...), so a run sends each probe
once per provider and model. Prompts are short, written for real models (any competent model
passes them, wording is tolerated by the checks), and every chat probe caps its answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from conformance.providers import ModelConfig
from conformance.transport import Request

COUNT_PROMPT = "Count from 1 to 10, separated by spaces. Reply with the numbers only."
COUNT_TEXT = "1 2 3 4 5 6 7 8 9 10"
SYSTEM_WORD = "BANANA"
SYSTEM_PROMPT = f"You are a test fixture. Whatever the user says, reply with only the word {SYSTEM_WORD}."
NAME = "Zorblax"
PARTS_WORD = "PINEAPPLE"
UNICODE_TEXT = "Grüße, café — 你好，世界 — Привет — مرحبا — 👋🏽🎉"
ECHO_PROMPT = "Repeat the text between the markers exactly, without the markers: <<<{}>>>"
TOOL_RESULT = {"city": "Paris", "temperature_c": 37, "conditions": "purple hail"}
INVALID_KEY = "sk-conformance-invalid-key-0000000000000000"
UNKNOWN_MODEL = "conformance-no-such-model-7f3a"
# Three topics, two paraphrases each: every sentence's nearest neighbour must be its paraphrase.
EMBED_SENTENCES = (
    "The cat sleeps on the sofa.",
    "A kitten is napping on the couch.",
    "Quarterly revenue grew by ten percent.",
    "The company's sales increased this quarter.",
    "The football match ended in a draw.",
    "The soccer game finished with a tie.",
)
EMBED_A = EMBED_SENTENCES[0]
EMBED_C = EMBED_SENTENCES[4]
EMBED_C_INDEX = 4
EMBED_TOKENS = [10, 20, 30, 40, 50]
EMBED_DIMENSIONS = 32
FILLER = (
    "Background for this request, which you can ignore: the committee met on a rainy Tuesday to discuss "
    "the annual budget, the state of the old library roof, the schedule for the summer fair, a proposal "
    "to plant forty new oak trees along the river path, the price of printing the newsletter, and the "
    "long-standing question of where to park the bicycles during the market. "
) * 3

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "The city name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TIME_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Get the current local time in an IANA time zone.",
        "parameters": {
            "type": "object",
            "properties": {"timezone": {"type": "string", "description": "IANA time zone, e.g. Europe/Paris"}},
            "required": ["timezone"],
            "additionalProperties": False,
        },
    },
}
TOOLS_BY_NAME = {t["function"]["name"]: t for t in (WEATHER_TOOL, TIME_TOOL)}
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "temperature_c": {"type": "integer"},
        "conditions": {"type": "string", "enum": ["sunny", "cloudy", "rainy", "snowy"]},
    },
    "required": ["city", "temperature_c", "conditions"],
    "additionalProperties": False,
}
WEATHER_PROMPT = "What is the weather in Paris right now? Use the get_weather tool."
PARALLEL_PROMPT = "What is the weather in Paris and in Tokyo right now? Call get_weather once for each city."


def _user(text: str | list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _chat(model: ModelConfig, messages: list[dict[str, Any]], cap: int | None = None, **params: Any) -> Request:
    body: dict[str, Any] = {"model": model.name, "messages": messages}
    if "max_tokens" not in params and "max_completion_tokens" not in params:
        body[model.cap_param] = cap if cap is not None else model.token_cap
    body.update(params)
    return Request("POST", "/chat/completions", json=body, stream=bool(params.get("stream")))


def _embed(model: ModelConfig, inp: Any, **params: Any) -> Request:
    return Request("POST", "/embeddings", json={"model": model.name, "input": inp, **params})


def _tools_chat(model: ModelConfig, prompt: str, tools: list[dict[str, Any]], **params: Any) -> Request:
    return _chat(model, [_user(prompt)], cap=max(model.token_cap, 128), tools=tools, **params)


ProbeBuilder = Callable[[ModelConfig], Request]

PROBES: dict[str, ProbeBuilder] = {
    # models
    "models_list": lambda m: Request("GET", "/models"),
    "models_retrieve": lambda m: Request("GET", f"/models/{m.name}"),
    # chat
    "chat_basic": lambda m: _chat(m, [_user("Say hello in one short sentence.")]),
    "chat_system": lambda m: _chat(m, [{"role": "system", "content": SYSTEM_PROMPT}, _user("What colour is the sky?")]),
    "chat_developer": lambda m: _chat(
        m, [{"role": "developer", "content": SYSTEM_PROMPT}, _user("What colour is the sky?")]
    ),
    "chat_multi_turn": lambda m: _chat(
        m,
        [
            _user(f"My name is {NAME}. Please remember it."),
            {"role": "assistant", "content": f"Nice to meet you, {NAME}! I will remember your name."},
            _user("What is my name? Reply with only the name."),
        ],
    ),
    "chat_max_tokens": lambda m: _chat(
        m, [_user("Count from 1 to 50, separated by spaces. Reply with the numbers only.")], max_tokens=5
    ),
    "chat_max_completion_tokens": lambda m: _chat(
        m, [_user("Count from 1 to 50, separated by spaces. Reply with the numbers only.")], max_completion_tokens=5
    ),
    "chat_stop": lambda m: _chat(m, [_user(COUNT_PROMPT)], stop=["6"]),
    "chat_n": lambda m: _chat(m, [_user("Say hello in one short sentence.")], n=2, temperature=1),
    "chat_seed": lambda m: _chat(m, [_user("Say hello in one short sentence.")], seed=1234, temperature=0),
    "chat_content_parts": lambda m: _chat(
        m, [_user([{"type": "text", "text": "Reply with only the word "}, {"type": "text", "text": f"{PARTS_WORD}."}])]
    ),
    "chat_unicode": lambda m: _chat(
        m,
        [_user(ECHO_PROMPT.format(UNICODE_TEXT))],
        cap=max(m.token_cap, 96),
    ),
    "chat_logprobs": lambda m: _chat(m, [_user("Say hello in one short sentence.")], logprobs=True, top_logprobs=2),
    "chat_long_prompt": lambda m: _chat(m, [_user(FILLER + "\n\nNow: say hello in one short sentence.")]),
    "chat_count": lambda m: _chat(m, [_user(COUNT_PROMPT)], temperature=0),
    "equiv_plain": lambda m: _chat(m, [_user(COUNT_PROMPT)], temperature=0, seed=7),
    # streams
    "stream_basic": lambda m: _chat(m, [_user(COUNT_PROMPT)], temperature=0, stream=True),
    "equiv_stream": lambda m: _chat(m, [_user(COUNT_PROMPT)], temperature=0, seed=7, stream=True),
    "stream_usage": lambda m: _chat(
        m, [_user(COUNT_PROMPT)], stream=True, stream_options={"include_usage": True}
    ),
    # structured output
    "json_object": lambda m: _chat(
        m,
        [_user('Return a JSON object with a key "city" whose value is "Paris". Reply with JSON only.')],
        response_format={"type": "json_object"},
    ),
    "json_schema": lambda m: _chat(
        m,
        [_user("Describe the weather in Paris: 21 degrees Celsius and sunny. Answer in JSON.")],
        cap=max(m.token_cap, 96),
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "weather_report", "strict": True, "schema": WEATHER_SCHEMA},
        },
    ),
    # tools
    "tools_auto": lambda m: _tools_chat(m, WEATHER_PROMPT, [WEATHER_TOOL, TIME_TOOL], tool_choice="auto"),
    "tools_required": lambda m: _tools_chat(m, "Hello! How are you today?", [WEATHER_TOOL], tool_choice="required"),
    "tools_named": lambda m: _tools_chat(
        m,
        "What is the weather in Paris right now?",
        [WEATHER_TOOL, TIME_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
    ),
    "tools_none": lambda m: _tools_chat(m, WEATHER_PROMPT, [WEATHER_TOOL], tool_choice="none"),
    "tools_parallel": lambda m: _tools_chat(m, PARALLEL_PROMPT, [WEATHER_TOOL]),
    "tools_parallel_disabled": lambda m: _tools_chat(m, PARALLEL_PROMPT, [WEATHER_TOOL], parallel_tool_calls=False),
    "tools_stream": lambda m: _tools_chat(m, PARALLEL_PROMPT, [WEATHER_TOOL], stream=True),
    "tools_result": lambda m: _chat(
        m,
        [
            _user("What is the weather in Paris right now? Use the get_weather tool."),
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_conformance_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call_conformance_1",
                "content": '{"city": "Paris", "temperature_c": 37, "conditions": "purple hail"}',
            },
        ],
        cap=max(m.token_cap, 96),
        tools=[WEATHER_TOOL],
    ),
    # embeddings
    "emb_single": lambda m: _embed(m, EMBED_A, encoding_format="float"),
    "emb_single_again": lambda m: _embed(m, EMBED_A, encoding_format="float"),
    "emb_single_c": lambda m: _embed(m, EMBED_C, encoding_format="float"),
    "emb_batch": lambda m: _embed(m, list(EMBED_SENTENCES), encoding_format="float"),
    "emb_base64": lambda m: _embed(m, EMBED_A, encoding_format="base64"),
    "emb_dimensions": lambda m: _embed(m, EMBED_A, encoding_format="float", dimensions=EMBED_DIMENSIONS),
    "emb_tokens": lambda m: _embed(m, [EMBED_TOKENS], encoding_format="float"),
    # errors
    "err_auth": lambda m: replace(_chat(m, [_user("Say hello.")], cap=16), api_key=INVALID_KEY),
    "err_auth_embed": lambda m: replace(_embed(m, EMBED_A), api_key=INVALID_KEY),
    "err_unknown_model": lambda m: Request(
        "POST",
        "/chat/completions",
        json={"model": UNKNOWN_MODEL, "messages": [_user("Say hello.")], m.cap_param: 16},
    ),
    "err_bad_request": lambda m: Request(
        "POST", "/chat/completions", json={"model": m.name, "messages": "this should be a list", m.cap_param: 16}
    ),
    "err_stream_bad": lambda m: Request(
        "POST",
        "/chat/completions",
        json={"model": m.name, "messages": "this should be a list", m.cap_param: 16, "stream": True},
        stream=True,
    ),
}
ERROR_PROBES = ("err_auth", "err_unknown_model", "err_bad_request", "err_stream_bad")
