"""The reference server: a deterministic, fast, OpenAI-compatible server and its quirks.

It serves `ref-chat` and `ref-embed` from a rule-based model (responder.py, embeddings.py) with
OpenAI's validation, errors, streaming and usage, and can switch on named deviations real
providers make (quirks.yaml, the quirks package) so the suite's checks can be tested against both.

Modules: server (app, config, CLI helpers), json_body (parsing), validation, fields (typed
field readers), schema_limits (schemas in requests), patterns (their regexes), responder,
instances (schema instance generator), tokens, embeddings, render (wire shapes), quirks (a
package: one module per hook point), models, errors, testing (`running_server()` for tests).
"""

# Lazy: loading quirk names (providers.yaml validation) must not import starlette/uvicorn, which
# would then be imported before pytest starts and escape its assertion rewriting.
_EXPORTS = {
    "QuirkSet": "conformance.reference.quirks",
    "UnknownQuirkError": "conformance.reference.quirks",
    "load_quirks": "conformance.reference.quirks",
    "ServerConfig": "conformance.reference.server",
    "add_serve_arguments": "conformance.reference.server",
    "create_app": "conformance.reference.server",
    "serve": "conformance.reference.server",
    "serve_from_args": "conformance.reference.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
