"""The reference server: a deterministic, fast, OpenAI-compatible server and its quirks.

It serves `ref-chat` and `ref-embed` from a rule-based model (responder.py, embeddings.py) with
OpenAI's validation, errors, streaming and usage, and can switch on named deviations real
providers make (quirks.yaml, quirks.py) so the suite's checks can be tested against both.

Modules: server (app, config, CLI helpers), validation, responder, instances (schema instance
generator), tokens, embeddings, render (wire shapes), quirks, models, errors, testing
(`running_server()` for tests).
"""

from conformance.reference.quirks import QuirkSet, UnknownQuirkError, load_quirks
from conformance.reference.server import ServerConfig, add_serve_arguments, create_app, serve, serve_from_args

__all__ = [
    "QuirkSet",
    "ServerConfig",
    "UnknownQuirkError",
    "add_serve_arguments",
    "create_app",
    "load_quirks",
    "serve",
    "serve_from_args",
]
