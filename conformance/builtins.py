"""Built-in providers: servers the suite starts itself (today the reference server).

`start_builtins()` starts each enabled built-in provider's server on a free 127.0.0.1 port with
a fresh random key, on the controller only, and returns {provider: {base_url, api_key}}; the
plugin hands that to xdist workers. The servers live until `stack` is closed. The server code is
imported only when a built-in provider is in the run.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from contextlib import ExitStack

from conformance.providers import Provider

Endpoints = dict[str, dict[str, str]]


def start_builtins(providers: Iterable[Provider], stack: ExitStack) -> Endpoints:
    """Start every enabled `builtin: reference` provider's server; stopped when `stack` closes."""
    endpoints: Endpoints = {}
    for provider in providers:
        if provider.builtin != "reference" or not provider.enabled:
            continue
        from conformance.reference.server import ServerConfig
        from conformance.reference.testing import running_server

        opts = dict(provider.builtin_options)
        key = "sk-ref-" + secrets.token_hex(16)
        config = ServerConfig(
            api_key=key,
            quirks=tuple(opts.get("quirks", ())),
            latency_ms=float(opts.get("latency_ms", 0)),
            jitter_ms=float(opts.get("jitter_ms", 0)),
            rpm=opts.get("rpm"),
        )
        base_url = stack.enter_context(running_server(config))
        endpoints[provider.name] = {"base_url": base_url, "api_key": key}
    return endpoints
