"""Checks of the errors area: status codes and error bodies for requests that must fail."""

from __future__ import annotations

from conformance import probes
from conformance.checks.base import Context, Fail, NoVerdict, Skip, check
from conformance.checks.common import error_message, excerpt, schema_fail
from conformance.transport import NOT_JSON, Exchange


def _answered(ex: Exchange) -> Exchange:
    if ex.status is None:
        raise NoVerdict(f"no response from the provider: {ex.error}")
    if ex.status in (429, 502, 503, 504):
        raise NoVerdict(f"provider busy or unavailable ({ex.status}) after {ex.retries} retries")
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


@check("errors.shape")
def errors_shape(ctx: Context) -> str | None:
    judged = 0
    for name in probes.ERROR_PROBES:
        if name == "err_auth" and not ctx.provider.api_key:
            continue
        ex = ctx.probe(name, ctx.model_for("chat"))
        if ex.status is None or ex.status in (429, 502, 503, 504):
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
    for name in probes.ERROR_PROBES:
        if name == "err_auth" and not ctx.provider.api_key:
            continue
        ex = ctx.probe(name, ctx.model_for("chat"))
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
