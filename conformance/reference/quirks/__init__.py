"""Quirks: named deviations a real provider has been seen to make, switchable on the reference server.

A quirk is one entry of `conformance/reference/quirks.yaml` (kind, one-line description, where it
was seen, the hook points its code runs at, the checks it must flip) and, at each hook point the
entry names, exactly one hook registered under its name. `QuirkSet` refuses to start while the
two disagree; tests/test_reference_quirks_unit.py asserts they agree.

Hook points, in the order a request meets them (each hook is `(value, ctx) -> value`), and the
module holding their hooks:

    resolve_model       ModelCard | None for the requested id (ctx.kind)      errors.py
    auth_required       True -> False skips the API-key check                errors.py
    chat_request        the validated request body (a copy; may raise)        requests.py
    completions         list[Completion] from the responder                   completions.py
    chat_usage          the usage object (bodies and streams alike)           completions.py
    chat_response       the non-streamed body dict                            responses.py
    chat_chunks         the list of chunk dicts of a stream                   chunks.py
    sse_events          events, each a list of field lines, [DONE] last       sse.py
    sse_bytes           the events as bytes, one item per event               sse.py
    stream_headers      response headers of a stream                          sse.py
    stream_delays       seconds to wait before each sse_bytes item            sse.py
    embeddings_request  the validated embeddings body (a copy; may raise)     requests.py
    embedding_vectors   list of vectors (before encoding)                     responses.py
    embeddings_response the embeddings body dict                              responses.py
    models_list         GET /models body                                      responses.py
    model_retrieve      GET /models/{id} body (may raise)                     responses.py
    error_reply         ErrorReply (status, body, headers) of every error     errors.py
    endpoint_gate, responses_request, response_body, response_events, response_sse_events,
    completions_request, completion_body, images_request, images_body           surface.py

Families of near-identical quirks are tables (data) in those modules: `places.KeyEdit` rows for
the quirks that remove or set one key, and small name -> row mappings registered by `hooks_from`.
The registry, the YAML loader and `QuirkSet` are in registry.py.
"""

from __future__ import annotations

# Importing the hook modules fills the registry; nothing is registered anywhere else.
from conformance.reference.quirks import chunks, completions, errors, requests, responses, sse, surface  # noqa: F401
from conformance.reference.quirks.registry import (
    HOOK_POINTS,
    KINDS,
    HookContext,
    QuirkSet,
    QuirkSpec,
    UnknownQuirkError,
    linkage_problems,
    load_quirks,
    parse_quirks,
    registered_names,
)

__all__ = [
    "HOOK_POINTS", "KINDS", "HookContext", "QuirkSet", "QuirkSpec", "UnknownQuirkError",
    "linkage_problems", "load_quirks", "parse_quirks", "registered_names",
]
