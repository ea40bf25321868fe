"""Checks of the errors area: status codes and error bodies for requests that must fail, and the
property check errors.param_fuzz (generated invalid requests)."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from conformance import probes
from conformance.checks.base import Context, Fail, NoVerdict, Skip, check
from conformance.checks.common import NO_ANSWER, Reply, error_message, excerpt, is_openai_error, reply_of, schema_fail
from conformance.checks.property import Judgement, PropertyRun, Verdict
from conformance.providers import ModelConfig
from conformance.transport import NOT_JSON, Exchange, Request

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy


def _answered(ex: Exchange) -> Exchange:
    reply = reply_of(ex)
    if reply is Reply.BUSY:
        raise NoVerdict(f"provider busy or unavailable ({ex.status}) after {ex.retries} retries")
    if reply in NO_ANSWER:
        raise NoVerdict(f"no response from the provider: {ex.error}")
    return ex


def _auth_probe(ctx: Context) -> Exchange:
    if not ctx.provider.api_key:
        raise Skip(f"{ctx.provider.name} is configured without an API key: authentication cannot be checked")
    if ctx.provider.model_configs("chat"):
        return _answered(ctx.probe("err_auth", ctx.model_for("chat")))
    return _answered(ctx.probe("err_auth_embed", ctx.model_for("embeddings")))


@check("errors.auth")
def errors_auth(ctx: Context) -> str | None:
    ex = _auth_probe(ctx)
    if ex.status != 401:
        raise Fail(f"a wrong API key: received {ex.status} {error_message(ex)!r}; expected 401")
    return None


@check("errors.unknown_model")
def errors_unknown_model(ctx: Context) -> str | None:
    ex = _answered(ctx.probe("err_unknown_model"))
    if 200 <= ex.status < 300:
        raise Fail(f"model {probes.UNKNOWN_MODEL!r} does not exist but was served with {ex.status}")
    if ex.status != 404:
        raise Fail(f"unknown model: received {ex.status} {error_message(ex)!r}; expected 404")
    body = ex.json_body
    code = body.get("error", {}).get("code") if isinstance(body, dict) and isinstance(body.get("error"), dict) else None
    if code not in (None, "model_not_found"):
        ctx.note(f"error.code is {code!r}; OpenAI uses 'model_not_found'")
    return None


@check("errors.bad_request")
def errors_bad_request(ctx: Context) -> str | None:
    ex = _answered(ctx.probe("err_bad_request"))
    if not 400 <= ex.status < 500:
        raise Fail(f"messages as a string: received {ex.status} {excerpt(ex.text)!r}; expected a 4xx")
    return None


@check("errors.bad_request_detail")
def errors_bad_request_detail(ctx: Context) -> str | None:
    ex = _answered(ctx.probe("err_bad_request"))
    if ex.status != 400:
        raise Fail(f"messages as a string: received {ex.status}; expected 400")
    body = ex.json_body
    error = body.get("error") if isinstance(body, dict) else None
    param = error.get("param") if isinstance(error, dict) else None
    if not isinstance(param, str) or "messages" not in param:
        raise Fail(f"error.param: received {excerpt(param)}; expected it to name 'messages'")
    return None


def _error_exchanges(ctx: Context) -> list[tuple[str, Exchange]]:
    """The invalid requests' exchanges (the wrong key's only where the provider has a key)."""
    names = [n for n in probes.ERROR_PROBES if n != "err_auth" or ctx.provider.api_key]
    return [(name, ctx.probe(name, ctx.model_for("chat"))) for name in names]


@check("errors.shape")
def errors_shape(ctx: Context) -> str | None:
    judged = 0
    for name, ex in _error_exchanges(ctx):
        if reply_of(ex) in NO_ANSWER:
            continue
        body = ex.json_body
        if ex.status < 400 and not (isinstance(body, dict) and "error" in body):
            continue  # accepted: nothing to judge here (errors.* status checks say so)
        if ex.json_body is NOT_JSON:
            raise Fail(f"the {ex.status} error body of {name} is not JSON: {excerpt(ex.text)!r}")
        schema_fail("error", ex.json_body, f"the {ex.status} error body of {name}")
        judged += 1
    if not judged:
        raise NoVerdict("no error response to judge: every invalid request was accepted or not answered")
    return f"{judged} error bodies valid"


@check("errors.stream_request")
def errors_stream_request(ctx: Context) -> str | None:
    ex = _answered(ctx.probe("err_stream_bad"))
    if 200 <= ex.status < 300:
        raise Fail(
            f"an invalid streamed request got {ex.status} ({ex.content_type}); expected a 4xx before any event: "
            f"{excerpt(ex.text)!r}"
        )
    if ex.status >= 500:
        raise Fail(f"an invalid streamed request got {ex.status}; expected a 4xx")
    if ex.json_body is NOT_JSON:
        raise Fail(f"the {ex.status} answer to an invalid streamed request is not JSON: {excerpt(ex.text)!r}")
    schema_fail("error", ex.json_body, f"the {ex.status} answer to an invalid streamed request")
    return None


@check("errors.status_matches_body")
def errors_status_matches_body(ctx: Context) -> str | None:
    answered = 0
    for name, ex in _error_exchanges(ctx):
        answered += ex.status is not None
        if ex.status is None or not 200 <= ex.status < 300:
            continue
        body = ex.json_body
        if isinstance(body, dict) and "error" in body:
            raise Fail(f"{name}: HTTP {ex.status} with an error body {excerpt(body)}")
        if ex.stream_requested and ex.stream.error_event is not None:
            raise Fail(f"{name}: HTTP {ex.status} stream whose content is an error event {excerpt(ex.stream.error_event)}")
    if not answered:
        raise NoVerdict("no response to any invalid request: nothing to judge")
    return None


# --- errors.param_fuzz: generated invalid requests ---------------------------------------------------

# (JSON path, invalid value): each makes a valid chat request invalid under the OpenAI API
# reference (CreateChatCompletionRequest): a wrong type, a value out of its documented range,
# an unknown role, or a required member removed (value _ABSENT).
_ABSENT = "<absent>"
FIELD_MUTATIONS: tuple[tuple[str, Any], ...] = (
    ("temperature", 7),
    ("n", 0),
    ("top_p", 3),
    ("max_tokens", -5),
    ("n", -1),
    ("messages", _ABSENT),
    ("messages", "this should be a list"),
    ("messages", []),
    ("messages[0].role", "wizard"),
    ("model", _ABSENT),
    ("temperature", -1),
    ("temperature", "hot"),
    ("top_p", -0.5),
    ("n", "two"),
    ("n", 1.5),
    ("max_tokens", 0),
    ("max_tokens", "ten"),
    ("presence_penalty", 5),
    ("frequency_penalty", -3),
    ("stream", "yes"),
    ("stop", 5),
    ("model", 42),
    ("model", ["a", "b"]),
    ("messages", {"role": "user", "content": "hi"}),
    ("messages", 42),
    ("messages[0].role", ""),
    ("messages[0].role", 7),
    ("messages[0].role", _ABSENT),
    ("messages[0].content", 42),
    ("messages[0]", "hello"),
    ("tools", "get_weather"),
    ("response_format", {"type": "yaml"}),
    ("stream_options", {"include_usage": "yes"}),
)
# Bodies that are not a JSON object at all (sent as application/json).
BODY_MUTATIONS: tuple[str, ...] = ("[]", '"hello"', "42", "null", '{"model": ', "", "{}", '{"messages": [}')


@functools.cache
def invalid_requests() -> SearchStrategy[dict[str, Any]]:
    """One or two field mutations of a valid request, or a body that is no JSON object; streamed or not."""
    from hypothesis import strategies as st

    return st.one_of(
        st.fixed_dictionaries({
            "set": st.lists(st.sampled_from(FIELD_MUTATIONS), min_size=1, max_size=2, unique_by=lambda m: m[0]),
            "stream": st.booleans(),
        }),
        st.fixed_dictionaries({"body": st.sampled_from(BODY_MUTATIONS), "stream": st.booleans()}),
    )


def _invalid_request(model: ModelConfig, example: dict[str, Any]) -> Request:
    stream = bool(example.get("stream"))
    headers = {"Content-Type": "application/json"}
    if "body" in example:
        return Request("POST", "/chat/completions", raw_body=example["body"].encode("utf-8"), headers=headers,
                       stream=stream)
    body: dict[str, Any] = {
        "model": model.name,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16,
    }
    if stream:
        body["stream"] = True
    for path, value in example["set"]:
        _set(body, path, value)
    return Request("POST", "/chat/completions", json=body, stream=stream)


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    target: Any = body
    key: Any = path
    if path.startswith("messages[0]"):
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return  # an earlier mutation replaced the messages: nothing to reach into
        target, rest = body["messages"], path[len("messages"):]
        key = 0
        if rest.startswith("[0]."):
            target, key = target[0], rest[4:]
            if not isinstance(target, dict):
                return
    if value == _ABSENT:
        if isinstance(target, dict):
            target.pop(key, None)
    else:
        target[key] = value


def _describe_invalid(example: dict[str, Any]) -> str:
    if "body" in example:
        shown = f"body {example['body']!r}"
    else:
        shown = ", ".join(f"{p} removed" if v == _ABSENT else f"{p}={json.dumps(v)}" for p, v in example["set"])
    return f"invalid request ({shown}{', streamed' if example.get('stream') else ''})"


# What an invalid request's reply comes to, but for a 4xx (judged by its body below).
_INVALID_REQUEST_REPLIES: dict[Reply, Callable[[Exchange, str], tuple[Verdict, str]]] = {
    Reply.HUNG: lambda ex, what: (Verdict.FAIL, f"{what}: no answer, the request hung: {ex.error}"),
    Reply.UNSENT: lambda ex, what: (Verdict.UNJUDGED, f"no response: {ex.error}"),
    Reply.NO_RESPONSE: lambda ex, what: (Verdict.UNJUDGED, f"no response: {ex.error}"),
    Reply.UNFINISHED: lambda ex, what: (Verdict.FAIL, f"{what}: {ex.status} whose body never ended: {ex.error}"),
    Reply.BUSY: lambda ex, what: (Verdict.UNJUDGED, f"busy or unavailable ({ex.status}) after {ex.retries} retries"),
    Reply.SUCCESS: lambda ex, what: (Verdict.FAIL, f"{what} was accepted with {ex.status}: {excerpt(ex.text)!r}; expected a 4xx"),
    Reply.BROKE_OFF: lambda ex, what: (Verdict.FAIL, f"{what} was accepted with {ex.status}: {excerpt(ex.text)!r}; expected a 4xx"),
    Reply.SERVER_ERROR: lambda ex, what: (
        Verdict.FAIL, f"{what} got a server error {ex.status} {error_message(ex)!r}; expected a 4xx"
    ),
    Reply.OTHER: lambda ex, what: (Verdict.FAIL, f"{what} got {ex.status}; expected a 4xx"),
}


def _invalid_request_verdict(ex: Exchange, what: str) -> tuple[Verdict, str]:
    """An invalid request must get a prompt 4xx with an OpenAI-shaped error body."""
    reply = reply_of(ex)
    if reply is not Reply.CLIENT_ERROR:
        return _INVALID_REQUEST_REPLIES[reply](ex, what)
    if not is_openai_error(ex.json_body):
        return Verdict.FAIL, f"{what} got {ex.status} without an OpenAI-shaped error body: {excerpt(ex.text)!r}"
    return Verdict.PASS, ""


@check("errors.param_fuzz")
def errors_param_fuzz(ctx: Context) -> str | None:
    model = ctx.model_for("chat")
    run = PropertyRun(ctx)

    def judge(example: dict[str, Any]) -> Judgement:
        ex = run.send(_invalid_request(model, example))
        return Judgement(*_invalid_request_verdict(ex, _describe_invalid(example)), exchanges=(ex,))

    return run.run(invalid_requests(), judge, "generated invalid requests must get an OpenAI-shaped 4xx")
