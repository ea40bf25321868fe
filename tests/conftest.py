"""Shared fixtures: the reference server as a provider the suite can run against."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from conformance.providers import ModelConfig, Provider

REF_KEY = "sk-ref-test-key-5f2c9a1e7b3d"


def reference_provider(base_url: str, api_key: str | None = REF_KEY, name: str = "reference", **kw) -> Provider:
    """A Provider pointing at a running reference server, configured like the shipped preset."""
    chat = (ModelConfig("ref-chat", 64, "max_tokens"),)
    return Provider(
        name=name,
        base_url=base_url,
        api_key_env="REF_KEY" if api_key else None,
        api_key=api_key,
        models={
            "chat": chat,
            "tools": chat,
            "embeddings": (ModelConfig("ref-embed", 64, "max_tokens"),),
            "vision": chat,
            "images": (ModelConfig("ref-image", 64, "max_tokens"),),
            "reasoning": (ModelConfig("ref-reason", 128, "max_completion_tokens"),),
        },
        **kw,
    )


@contextmanager
def reference(quirks: tuple[str, ...] = (), api_key: str | None = REF_KEY, **config) -> Iterator[Provider]:
    """Start a reference server (optionally in deviation modes) and yield a Provider for it."""
    from conformance.reference.server import ServerConfig
    from conformance.reference.testing import running_server

    with running_server(ServerConfig(api_key=api_key, quirks=tuple(quirks), **config)) as url:
        yield reference_provider(url, api_key)
