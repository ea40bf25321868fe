"""Checks of the models area: GET /models and GET /models/{id}."""

from __future__ import annotations

from conformance.checks.base import Context, Fail, check
from conformance.checks.common import excerpt, require_json, schema_fail
from conformance.providers import CAPABILITIES, ModelConfig


def _any_model(ctx: Context) -> ModelConfig:
    for capability in CAPABILITIES:
        configs = ctx.provider.model_configs(capability)
        if configs:
            return configs[0]
    raise Fail("no model configured")


@check("models.list")
def models_list(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("models_list", _any_model(ctx)))
    schema_fail("models_list", body, "GET /models")
    return f"{len(body['data'])} models listed"


@check("models.configured_listed")
def models_configured_listed(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("models_list", _any_model(ctx)))
    data = body.get("data")
    if not isinstance(data, list):
        raise Fail(f"GET /models has no data list: {excerpt(body)}")
    listed = {m["id"] for m in data if isinstance(m, dict) and isinstance(m.get("id"), str)}  # ids may be any JSON
    configured = sorted({m.name for cfgs in ctx.provider.models.values() for m in cfgs})
    missing = [name for name in configured if name not in listed]
    if missing:
        raise Fail(f"configured models not in GET /models: {missing}; listed: {excerpt(sorted(map(str, listed)), 300)}")
    return f"all {len(configured)} configured models listed"


@check("models.retrieve")
def models_retrieve(ctx: Context) -> str | None:
    model = _any_model(ctx)
    body = require_json(ctx, ctx.probe("models_retrieve", model))
    schema_fail("model", body, f"GET /models/{model.name}")
    if body.get("id") != model.name:
        raise Fail(f"GET /models/{model.name} returned id {body.get('id')!r}; expected {model.name!r}")
    return None
