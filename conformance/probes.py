"""The requests the suite sends ("probes"), by name.

A probe is one request built for a model. Several checks read the same probe (the basic stream
feeds framing, chunk schema, ids, role, finish_reason, reassembly...), so a run sends each probe
once per provider and model. Prompts are short, written for real models (any competent model
passes them, wording is tolerated by the checks), and every chat probe caps its answer.
"""

from __future__ import annotations

import json
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


# --- the 2026 surface: /responses, /completions, vision, images, reasoning, caching ---------------
COUNT5_PROMPT = "Count from 1 to 5, separated by spaces. Reply with the numbers only."
COUNT5_TEXT = "1 2 3 4 5"
LONG_COUNT_PROMPT = "Count from 1 to 50, separated by spaces. Reply with the numbers only."
RESPONSE_TOOLS = [{"type": "function", **t["function"]} for t in (WEATHER_TOOL, TIME_TOOL)]
RESPONSE_CAP_MIN = 16  # OpenAI's smallest max_output_tokens
VISION_COLOUR, VISION_DIGIT, VISION_RESPONSES_COLOUR = "red", "7", "blue"
COLOUR_QUESTION = "What colour is this image? Reply with only the colour name."
DIGIT_QUESTION = "Which digit is shown in this image? Reply with only the digit."
IMAGE_PROMPT = "A plain solid blue square filling the whole picture, nothing else."
IMAGE_SIZE = (1024, 1024)  # the one size every image model offers (dall-e-2/3, gpt-image-1)
IMAGE_N = 2
REASONING_EFFORT = "low"
# A long shared prefix, sent twice: OpenAI caches prompts of 1024 tokens or more (~1,150 tokens here).
CACHE_PREFIX = "You answer questions about a committee meeting. " + FILLER * 5


def _responses(model: ModelConfig, inp: Any, cap: int | None = None, **params: Any) -> Request:
    body: dict[str, Any] = {"model": model.name, "input": inp}
    if "max_output_tokens" not in params:
        body["max_output_tokens"] = max(cap if cap is not None else model.token_cap, RESPONSE_CAP_MIN)
    body.update(params)
    return Request("POST", "/responses", json=body, stream=bool(params.get("stream")))


def _completion(model: ModelConfig, prompt: str, **params: Any) -> Request:
    body: dict[str, Any] = {"model": model.name, "prompt": prompt, "max_tokens": model.token_cap, **params}
    return Request("POST", "/completions", json=body, stream=bool(params.get("stream")))


def _image_part(colour_or_digit: str, fmt: str) -> dict[str, Any]:
    """An image_url content part with a data: URL the suite renders (conformance/images.py)."""
    from conformance import images  # local: Pillow is only loaded when a vision probe is built

    data = images.digit(colour_or_digit, fmt) if colour_or_digit.isdigit() else images.solid(colour_or_digit, fmt)
    return {"type": "image_url", "image_url": {"url": images.data_url(data, fmt), "detail": "low"}}


def _vision(model: ModelConfig, question: str, part: dict[str, Any]) -> Request:
    return _chat(model, [_user([{"type": "text", "text": question}, part])], cap=max(model.token_cap, 16))


def _responses_image(model: ModelConfig) -> Request:
    url = _image_part(VISION_RESPONSES_COLOUR, "png")["image_url"]["url"]
    content = [{"type": "input_text", "text": COLOUR_QUESTION}, {"type": "input_image", "image_url": url, "detail": "low"}]
    return _responses(model, [{"role": "user", "content": content}])


def _images(model: ModelConfig, **params: Any) -> Request:
    size = f"{IMAGE_SIZE[0]}x{IMAGE_SIZE[1]}"
    return Request("POST", "/images/generations", json={"model": model.name, "prompt": IMAGE_PROMPT, "size": size, **params})


def _cached_chat(model: ModelConfig) -> Request:
    return _chat(model, [_user(CACHE_PREFIX + "\n\nNow: say hello in one short sentence.")], cap=16)


def _tool_result_items() -> list[dict[str, Any]]:
    """A function_call and its function_call_output, as a Responses input."""
    return [
        {"role": "user", "content": WEATHER_PROMPT},
        {"type": "function_call", "call_id": "call_conformance_1", "name": "get_weather", "arguments": '{"city": "Paris"}'},
        {"type": "function_call_output", "call_id": "call_conformance_1", "output": json.dumps(TOOL_RESULT)},
    ]


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
    # ~250 tokens: enough to show prompt_tokens grow, small enough for any model's context (the
    # caching pair's 1,150-token prefix overflowed a 2,048-token vLLM model's byte-level tokenizer)
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
    # responses
    "resp_basic": lambda m: _responses(m, COUNT5_PROMPT),
    "resp_stream": lambda m: _responses(m, COUNT5_PROMPT, stream=True),
    "resp_instructions": lambda m: _responses(m, "What colour is the sky?", instructions=SYSTEM_PROMPT),
    "resp_multi_turn": lambda m: _responses(
        m,
        [
            _user(f"My name is {NAME}. Please remember it."),
            {"role": "assistant", "content": f"Nice to meet you, {NAME}! I will remember your name."},
            _user("What is my name? Reply with only the name."),
        ],
    ),
    "resp_remember": lambda m: _responses(m, f"My name is {NAME}. Please remember it.", store=True),
    "resp_tools": lambda m: _responses(m, WEATHER_PROMPT, cap=max(m.token_cap, 128), tools=RESPONSE_TOOLS),
    "resp_tool_named": lambda m: _responses(
        m, "What is the weather in Paris right now?", cap=max(m.token_cap, 128), tools=RESPONSE_TOOLS,
        tool_choice={"type": "function", "name": "get_time"},
    ),
    "resp_tool_result": lambda m: _responses(m, _tool_result_items(), cap=max(m.token_cap, 96), tools=RESPONSE_TOOLS[:1]),
    "resp_json_schema": lambda m: _responses(
        m,
        "Describe the weather in Paris: 21 degrees Celsius and sunny. Answer in JSON.",
        cap=max(m.token_cap, 96),
        text={"format": {"type": "json_schema", "name": "weather_report", "strict": True, "schema": WEATHER_SCHEMA}},
    ),
    "resp_capped": lambda m: _responses(m, LONG_COUNT_PROMPT, max_output_tokens=RESPONSE_CAP_MIN),
    "resp_bad_request": lambda m: Request("POST", "/responses", json={"model": m.name, "input": 42}),
    # legacy completions
    "cmpl_basic": lambda m: _completion(m, COUNT5_PROMPT),
    "cmpl_stream": lambda m: _completion(m, COUNT5_PROMPT, stream=True),
    "cmpl_length": lambda m: _completion(m, LONG_COUNT_PROMPT, max_tokens=5),
    "cmpl_stop": lambda m: _completion(m, COUNT_PROMPT, stop=["6"]),
    "cmpl_logprobs": lambda m: _completion(m, COUNT5_PROMPT, logprobs=2),
    # vision
    "vision_colour": lambda m: _vision(m, COLOUR_QUESTION, _image_part(VISION_COLOUR, "png")),
    "vision_digit": lambda m: _vision(m, DIGIT_QUESTION, _image_part(VISION_DIGIT, "jpeg")),
    "vision_responses": _responses_image,
    # images
    "images_b64": lambda m: _images(m, n=IMAGE_N, response_format="b64_json"),
    "images_url": lambda m: _images(m, response_format="url"),
    # reasoning
    "reason_plain": lambda m: _chat(m, [_user(COUNT5_PROMPT)]),
    "reason_effort": lambda m: _chat(m, [_user(COUNT5_PROMPT)], reasoning_effort=REASONING_EFFORT),
    "reason_responses": lambda m: _responses(m, COUNT5_PROMPT, reasoning={"effort": REASONING_EFFORT}),
    # prompt caching: the same long prefix twice (the check reads the first, then the second)
    "cache_first": _cached_chat,
    "cache_second": _cached_chat,
}
ERROR_PROBES = ("err_auth", "err_unknown_model", "err_bad_request", "err_stream_bad")
