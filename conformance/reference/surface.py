"""The reference server's 2026 surface: /v1/responses, /v1/completions, /v1/images/generations.

What lives here: `Surface`, the endpoints of those routes on top of the server's per-app state
(server._Reference: errors, ids, quirks, the prompt cache), the store of responses (bounded,
for previous_response_id and GET/DELETE /v1/responses/{id}) and of generated images (for
response_format url, served back from /v1/images/files/{name}), and `routes()`. What does not:
validation and wire shapes (responses_api.py, responses_render.py, legacy.py), the model
(responder.py).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import time
from collections.abc import Mapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from conformance.reference import legacy, render, responses_api, responses_render
from conformance.reference.errors import ApiError
from conformance.reference.patterns import budget as regex_budget
from conformance.reference.quirks import HookContext
from conformance.reference.responder import ChatRequest, content_text, respond
from conformance.reference.validation import check_chat

__all__ = ["Surface", "routes"]

MAX_STORED = 1024  # responses and images kept, oldest dropped first


class Surface:
    """The endpoints of the newer routes; `state` is the server's _Reference."""

    def __init__(self, state: Any) -> None:
        self.state = state
        self.stored: collections.OrderedDict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = collections.OrderedDict()
        self.files: collections.OrderedDict[str, bytes] = collections.OrderedDict()

    def _keep(self, table: collections.OrderedDict[str, Any], key: str, value: Any) -> None:
        table[key] = value
        while len(table) > MAX_STORED:
            table.popitem(last=False)

    def _gate(self, kind: str) -> None:
        """The endpoint_gate quirks: an ApiError (its body may be raw) instead of the route."""
        refusal = self.state.quirks.apply("endpoint_gate", None, HookContext(kind=kind))
        if refusal is not None:
            raise refusal

    def _stream(self, events: list[list[str]], context: HookContext) -> Response:
        frames = self.state.quirks.apply("sse_bytes", render.frames(events), context)
        headers = self.state._headers({"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache"})
        delays = [0.0] + [self.state._delay() for _ in frames[1:]]

        async def out() -> Any:
            for frame, delay in zip(frames, delays):
                if delay:
                    await asyncio.sleep(delay)
                yield frame

        return StreamingResponse(out(), 200, headers=headers)

    # --- /v1/responses ---------------------------------------------------------------------------

    async def create_response(self, request: Request) -> Response:
        self._gate("responses")
        return await run_in_threadpool(self._create_response, request, await self.state.read(request))

    def _create_response(self, request: Request, raw: bytes) -> Response:
        with regex_budget():
            body = responses_api.check_responses(self.state.parse(request, raw))
            card = self.state.model(body["model"], "chat")
            seen = self.state.quirks.apply("responses_request", copy.deepcopy(dict(body)), HookContext(request=body))
            history = self._history(seen.get("previous_response_id"))
            chat = responses_api.to_chat(seen, history)
            check_chat(chat)
            messages = chat["messages"]
            effort = (seen.get("reasoning") or {}).get("effort") if isinstance(seen.get("reasoning"), Mapping) else None
            self.state.gate(card, [m.get("content") for m in messages], effort, "reasoning.effort")
            completion = respond(ChatRequest.from_body(chat))[0]
            turns = [(str(m.get("role")), content_text(m.get("content"))) for m in messages]
            use = self.state.usage(card, turns, completion.tokens, effort)
            ids = responses_render.ResponseIds(
                self.state._id("resp_", 40), self.state._id("msg_", 40), self.state._id("rs_", 40), self.state._id("fc_", 36) + "_"
            )
            output = responses_render.output_items(completion, ids, card.reasoning)
            out = responses_render.response_body(seen, card.id, ids, int(time.time()), output, responses_render.response_usage(use))
            context = HookContext(request=seen)
            out = self.state.quirks.apply("response_body", out, context)
            if seen.get("store") is not False:
                self._keep(self.stored, ids.response, (copy.deepcopy(out), messages + _output_messages(completion)))
            if seen.get("stream") is True:
                events = self.state.quirks.apply("response_events", responses_render.stream_events(out), context)
                lines = self.state.quirks.apply("response_sse_events", responses_render.sse_events(events), context)
                return self._stream(lines, context)
            return self.state.json(out)

    def _history(self, previous: Any) -> list[dict[str, Any]]:
        if previous is None:
            return []
        found = self.stored.get(previous)
        if found is None:
            raise ApiError(400, f"Previous response with id '{str(previous)[:100]}' not found.", param="previous_response_id", code="previous_response_not_found")
        return [m for m in found[1] if m.get("role") not in ("system", "developer")]

    def _stored(self, request: Request) -> tuple[str, dict[str, Any]]:
        self._gate("responses")
        key = request.path_params["response_id"]
        found = self.stored.get(key)
        if found is None:
            raise ApiError(404, f"No response found with id '{key[:100]}'.", code="not_found")
        return key, found[0]

    async def get_response(self, request: Request) -> Response:
        return self.state.json(self._stored(request)[1])

    async def delete_response(self, request: Request) -> Response:
        key, _ = self._stored(request)
        self.stored.pop(key, None)
        return self.state.json({"id": key, "object": "response.deleted", "deleted": True})

    # --- /v1/completions -------------------------------------------------------------------------

    async def completions(self, request: Request) -> Response:
        self._gate("completions")
        return await run_in_threadpool(self._completions, request, await self.state.read(request))

    def _completions(self, request: Request, raw: bytes) -> Response:
        with regex_budget():
            body = legacy.check_completions(self.state.parse(request, raw))
            card = self.state.model(body["model"], "chat")
            seen = self.state.quirks.apply("completions_request", copy.deepcopy(dict(body)), HookContext(request=body))
            choices = legacy.completion_choices(seen)
            generated = sum(c.tokens for c in choices)
            top = seen.get("logprobs")
            if generated * (1 + (top or 0)) > 2**17:
                raise ApiError(400, "This request asks for too many tokens; lower 'n' or 'max_tokens'.", param="n", code="invalid_value")
            use = self.state.usage(card, [("user", p) for p in legacy.prompts(seen)], generated, None)
            envelope = render.Envelope(self.state._id("cmpl-", 29), int(time.time()), card.id, "fp_ref0001")
            context = HookContext(request=seen, usage=use)
            if seen.get("stream") is True:
                options = seen.get("stream_options")
                include = isinstance(options, Mapping) and options.get("include_usage") is True
                chunks = legacy.completion_chunks(envelope, choices, use, top, include)
                return self._stream(render.sse_events(chunks), context)
            return self.state.json(self.state.quirks.apply("completion_body", legacy.completion_body(envelope, choices, use, top), context))

    # --- /v1/images ------------------------------------------------------------------------------

    async def generate_images(self, request: Request) -> Response:
        self._gate("images")
        return await run_in_threadpool(self._generate_images, request, await self.state.read(request))

    def _generate_images(self, request: Request, raw: bytes) -> Response:
        body = legacy.check_images(self.state.parse(request, raw))
        self.state.model(body["model"], "images")
        seen = self.state.quirks.apply("images_request", copy.deepcopy(dict(body)), HookContext(request=body))
        size = legacy.image_size(seen)
        pngs = [legacy.image_png(seen["prompt"], k, size) for k in range(seen.get("n") or 1)]
        urls = None
        if seen.get("response_format") == "url":
            urls = []
            for png in pngs:
                name = self.state._id("img_", 24) + ".png"
                self._keep(self.files, name, png)
                urls.append(f"{str(request.base_url).rstrip('/')}/v1/images/files/{name}")
        out = legacy.images_body(int(time.time()), pngs, urls, seen["prompt"])
        return self.state.json(self.state.quirks.apply("images_body", out, HookContext(request=seen)))

    async def image_file(self, request: Request) -> Response:
        name = request.path_params["name"]
        png = self.files.get(name)
        if png is None:
            raise ApiError(404, f"No image named '{name[:100]}'.", code="not_found")
        return Response(png, 200, headers=self.state._headers(), media_type="image/png")


def _output_messages(completion: Any) -> list[dict[str, Any]]:
    """A completion as the chat messages a later turn sees (previous_response_id)."""
    if completion.tool_calls:
        calls = [{"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}} for c in completion.tool_calls]
        return [{"role": "assistant", "content": None, "tool_calls": calls}]
    return [{"role": "assistant", "content": completion.content or ""}]


def routes(state: Any) -> list[Route]:
    """The routes of the newer surface, each through the server's endpoint wrapper."""
    surface = Surface(state)
    wrap = state.endpoint
    return [
        Route("/v1/responses", wrap(surface.create_response), methods=["POST"]),
        Route("/v1/responses/{response_id}", wrap(surface.get_response), methods=["GET"]),
        Route("/v1/responses/{response_id}", wrap(surface.delete_response), methods=["DELETE"]),
        Route("/v1/completions", wrap(surface.completions), methods=["POST"]),
        Route("/v1/images/generations", wrap(surface.generate_images), methods=["POST"]),
        Route("/v1/images/files/{name}", wrap(surface.image_file), methods=["GET"]),
    ]
