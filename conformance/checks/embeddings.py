"""Checks of the embeddings area: shape, batching, encodings, dimensions and meaning."""

from __future__ import annotations

import base64
import binascii
import math
import struct
from typing import Any

from conformance import probes
from conformance.checks.base import Context, Fail, check
from conformance.checks.common import excerpt, require_json, schema_fail

SAME = 0.999  # cosine above which two requests for one text count as the same embedding
# Comparisons whose subject is not determinism (batch order, base64 decoding) tolerate provider
# noise up to this; a wrong order or byte order gives an unrelated vector, far below it.
CLOSE = 0.9


def cosine(a: list[float], b: list[float]) -> float:
    if len(a) != len(b) or not a:
        return -2.0
    dot = sum(x * y for x, y in zip(a, b))
    na, nb = math.sqrt(sum(x * x for x in a)), math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else -2.0


def vectors(body: dict[str, Any], what: str, strict: bool = True) -> list[list[float]]:
    """Float vectors ordered by their `index`, or a Fail saying why not. Not strict: a missing
    index falls back to the position, as a forgiving client does (the shape checks judge it)."""
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise Fail(f"{what}: no data list: {excerpt(body)}")
    out: dict[int, list[float]] = {}
    for pos, item in enumerate(data):
        if not isinstance(item, dict):
            raise Fail(f"{what}: data[{pos}] is not an object")
        index = item.get("index")
        if index is None and not strict:
            index = pos
        if type(index) is not int:
            raise Fail(f"{what}: data[{pos}].index is {excerpt(index)}; expected an integer")
        vec = item.get("embedding")
        if not isinstance(vec, list) or not vec or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vec
        ):
            raise Fail(f"{what}: data[{pos}].embedding is not a flat list of finite numbers: {excerpt(vec)}")
        if index in out:
            raise Fail(f"{what}: index {index} appears twice")
        out[index] = [float(x) for x in vec]
    if sorted(out) != list(range(len(out))):
        raise Fail(f"{what}: indexes {sorted(out)}; expected 0..{len(out) - 1}")
    return [out[i] for i in range(len(out))]


def _single(ctx: Context, probe: str = "emb_single") -> list[float]:
    return vectors(require_json(ctx, ctx.probe(probe)), probe, strict=False)[0]


@check("embeddings.basic")
def embeddings_basic(ctx: Context) -> str | None:
    schema_fail("embeddings", require_json(ctx, ctx.probe("emb_single")), "the embeddings response")
    for probe in ("emb_batch", "emb_base64"):  # judged where they succeeded; refusals are other checks' business
        ex = ctx.probe(probe)
        if ex.ok and isinstance(ex.json_body, dict):
            schema_fail("embeddings", ex.json_body, f"the {probe} response")
    return None


@check("embeddings.shape")
def embeddings_shape(ctx: Context) -> str | None:
    for probe in ("emb_single", "emb_batch"):
        vecs = vectors(require_json(ctx, ctx.probe(probe)), probe)
        lengths = sorted({len(v) for v in vecs})
        if len(lengths) > 1:
            raise Fail(f"{probe}: vectors of different lengths {lengths}")
    return f"{len(_single(ctx))} dimensions"


@check("embeddings.batch")
def embeddings_batch(ctx: Context) -> str | None:
    batch = vectors(require_json(ctx, ctx.probe("emb_batch")), "emb_batch")
    n = len(probes.EMBED_SENTENCES)
    if len(batch) != n:
        raise Fail(f"{n} inputs: received {len(batch)} vectors")
    for probe, position in (("emb_single", 0), ("emb_single_c", probes.EMBED_C_INDEX)):
        single = _single(ctx, probe)
        sims = [cosine(vec, single) for vec in batch]
        nearest = max(range(n), key=sims.__getitem__)
        if nearest != position:
            raise Fail(
                f"the text at index {position} embedded alone matches batch index {nearest} best "
                f"(cosine {sims[nearest]:.3f} vs {sims[position]:.3f}): results are out of order"
            )
        if sims[position] < CLOSE:
            raise Fail(
                f"batch vector at index {position} differs from the same text embedded alone "
                f"(cosine {sims[position]:.4f}): batch-dependent results"
            )
    return None


@check("embeddings.deterministic")
def embeddings_deterministic(ctx: Context) -> str | None:
    sim = cosine(_single(ctx), _single(ctx, "emb_single_again"))
    if sim < SAME:
        raise Fail(f"the same input twice gave different vectors (cosine {sim:.5f})")
    return None


def decode_base64_f32(text: str) -> list[float]:
    raw = base64.b64decode(text, validate=True)
    if len(raw) % 4:
        raise ValueError(f"{len(raw)} bytes is not a whole number of float32 values")
    return [v for (v,) in struct.iter_unpack("<f", raw)]


def _base64_item(ctx: Context) -> Any:
    body = require_json(ctx, ctx.probe("emb_base64"), what="encoding_format base64 (openai-python's default)")
    data = body.get("data")
    item = data[0] if isinstance(data, list) and data and isinstance(data[0], dict) else {}
    return item.get("embedding")


@check("embeddings.base64_format")
def embeddings_base64_format(ctx: Context) -> str | None:
    encoded = _base64_item(ctx)
    if not isinstance(encoded, str):
        raise Fail(f"encoding_format=base64 ignored: embedding is a {type(encoded).__name__}, expected a base64 string")
    return None


@check("embeddings.base64")
def embeddings_base64(ctx: Context) -> str | None:
    encoded = _base64_item(ctx)
    if isinstance(encoded, list):
        # Ignored, but what openai-python does with it still works: it decodes strings only.
        vectors(require_json(ctx, ctx.probe("emb_base64")), "emb_base64", strict=False)
        ctx.note("floats came back instead of base64 (see embeddings.base64_format); openai-python passes them through")
        return None
    if not isinstance(encoded, str):
        raise Fail(f"encoding_format=base64: embedding is {type(encoded).__name__}, expected a base64 string")
    try:
        decoded = decode_base64_f32(encoded)
    except (ValueError, binascii.Error) as exc:
        raise Fail(f"the base64 embedding does not decode as float32: {exc}") from None
    floats = _single(ctx)
    if len(decoded) != len(floats):
        hint = " (float64?)" if len(decoded) == 2 * len(floats) else ""
        raise Fail(f"base64 decodes to {len(decoded)} float32 values; the float vector has {len(floats)}{hint}")
    sim = cosine(decoded, floats)
    if sim < CLOSE:
        raise Fail(f"the decoded base64 vector differs from the float vector (cosine {sim:.4f}): byte order or type")
    return None


@check("embeddings.dimensions")
def embeddings_dimensions(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("emb_dimensions"), what="dimensions")
    vec = vectors(body, "emb_dimensions", strict=False)[0]
    if len(vec) != probes.EMBED_DIMENSIONS:
        raise Fail(f"dimensions={probes.EMBED_DIMENSIONS}: received a vector of length {len(vec)}")
    return None


@check("embeddings.token_input")
def embeddings_token_input(ctx: Context) -> str | None:
    body = require_json(ctx, ctx.probe("emb_tokens"), what="token-array input")
    vecs = vectors(body, "emb_tokens", strict=False)
    if len(vecs) != 1:
        raise Fail(f"one token array: received {len(vecs)} vectors")
    return None


@check("embeddings.semantic")
def embeddings_semantic(ctx: Context) -> str | None:
    vecs = vectors(require_json(ctx, ctx.probe("emb_batch")), "emb_batch", strict=False)
    texts = probes.EMBED_SENTENCES
    if len(vecs) != len(texts):
        raise Fail(f"{len(texts)} inputs: received {len(vecs)} vectors")
    # Sentences come in paraphrase pairs (0,1), (2,3), (4,5) on three unrelated topics: each
    # one's nearest neighbour must be its paraphrase. Random or hash vectors pass by chance
    # with probability about (1/5)^6.
    for i, vec in enumerate(vecs):
        partner = i ^ 1
        sims = {j: cosine(vec, other) for j, other in enumerate(vecs) if j != i}
        nearest = max(sims, key=sims.__getitem__)
        if nearest != partner:
            raise Fail(
                f"{texts[i]!r} is closer to {texts[nearest]!r} (cosine {sims[nearest]:.3f}) than to its "
                f"paraphrase {texts[partner]!r} ({sims[partner]:.3f})"
            )
    return "every sentence's nearest neighbour is its paraphrase"
