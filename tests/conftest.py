"""Shared fixtures: the reference server as a provider the suite can run against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conformance.providers import ModelConfig, Provider

REF_KEY = "sk-ref-test-key-5f2c9a1e7b3d"


def reference_provider(base_url: str, api_key: str | None = REF_KEY, name: str = "reference", **kw) -> Provider:
    """A Provider pointing at a running reference server, configured like the shipped preset."""
    from conformance.reference.testing import reference_provider as provider

    return provider(base_url, api_key, name, **kw)


@contextmanager
def reference(quirks: tuple[str, ...] = (), api_key: str | None = REF_KEY, **config) -> Iterator[Provider]:
    """Start a reference server (optionally in deviation modes) and yield a Provider for it."""
    from conformance.reference.server import ServerConfig
    from conformance.reference.testing import running_server

    with running_server(ServerConfig(api_key=api_key, quirks=tuple(quirks), **config)) as url:
        yield reference_provider(url, api_key)


# The fast lane (`python -m pytest -m "not slow"`, about a minute) leaves out the suites that run
# whole runs many times over or start real engines and browsers; CI runs everything.
SLOW_MODULES = frozenset({
    "test_quirks.py",        # the whole suite once per deviation mode (~110 runs)
    "test_engines.py",       # llama.cpp, LiteLLM, infinity-emb, vLLM started for real
    "test_browser.py",       # headless Chromium
    "test_interrupt.py",     # SIGTERM and killed workers mid-run
    "test_hostile.py",       # every hostile server mode through the whole suite
    "test_secrets.py",       # full runs searched byte by byte
    "test_fresh_clone.py",   # a fresh clone and venv
    "test_requests_once.py", # whole runs under -n 1/2/3 and every deselection, counted at servers
    "test_client_node.py",   # node processes and npm installs
    "test_fuzz_parsers.py",  # the parsers and every check under hundreds of generated inputs
})


def pytest_collection_modifyitems(items: list) -> None:
    import pytest

    for item in items:
        if item.path.name in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)
