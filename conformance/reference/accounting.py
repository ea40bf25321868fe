"""Token accounting beyond the plain counts: prompt caching and reasoning tokens.

What lives here: `PromptCache` (per server: which long prompt prefixes it has seen, so a repeat
reports `cached_tokens`), `prompt_pieces()` (a prompt as the token list its count is made of),
`EFFORTS` and `reasoning_tokens()` (the hidden tokens a reasoning model spends per effort) and
`refuse_effort()` (the 400 a model without reasoning gives for an effort). What does not: the
wire shape of usage objects (render.py).

Caching follows OpenAI's documented rule: prompts of 1024 tokens or more are cached, and a hit
covers the longest earlier-seen prefix in steps of 128 tokens beyond the first 1024. The cache
keeps at most MAX_ENTRIES prefix hashes (oldest dropped first), so memory stays bounded.
"""

from __future__ import annotations

import collections
import hashlib
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from conformance.reference.errors import ApiError
from conformance.reference.tokens import tokenize

__all__ = ["CACHE_MIN_TOKENS", "CACHE_STEP", "EFFORTS", "PromptCache", "prompt_pieces", "reasoning_tokens", "refuse_effort"]

CACHE_MIN_TOKENS = 1024
CACHE_STEP = 128
MAX_ENTRIES = 4096
EFFORTS: Mapping[str, int] = {"none": 0, "minimal": 8, "low": 32, "medium": 96, "high": 256, "xhigh": 512}
DEFAULT_EFFORT = "medium"


def prompt_pieces(texts: Iterable[tuple[str, str]]) -> list[str]:
    """(role, text) pairs as one token list: three role tokens per message, then its text's tokens.

    Its length is the prompt_tokens the server reports (validation.prompt_tokens counts the same).
    """
    pieces: list[str] = []
    for role, text in texts:
        pieces += [f"<|{role}|>", "<|start|>", "<|end|>"]
        pieces += tokenize(text)
    return pieces


class PromptCache:
    """The prompt prefixes one server has seen; `lookup_and_add(pieces)` -> the cached token count."""

    def __init__(self) -> None:
        self._seen: collections.OrderedDict[bytes, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def lookup_and_add(self, pieces: list[str]) -> int:
        if len(pieces) < CACHE_MIN_TOKENS:
            return 0
        digest = hashlib.sha256()
        boundaries = []
        for start in range(0, len(pieces), CACHE_STEP):
            for piece in pieces[start : start + CACHE_STEP]:
                digest.update(piece.encode("utf-8", "surrogatepass") + b"\0")
            end = min(start + CACHE_STEP, len(pieces))
            if end >= CACHE_MIN_TOKENS and (end - CACHE_MIN_TOKENS) % CACHE_STEP == 0:
                boundaries.append((end, digest.copy().digest()))
        with self._lock:
            cached = max((end for end, key in boundaries if key in self._seen), default=0)
            for _, key in boundaries:
                self._seen[key] = None
                self._seen.move_to_end(key)
            while len(self._seen) > MAX_ENTRIES:
                self._seen.popitem(last=False)
        return cached


def reasoning_tokens(effort: Any) -> int:
    """Hidden tokens a reasoning model spends at `effort` (None: the default, medium)."""
    return EFFORTS.get(effort if isinstance(effort, str) else DEFAULT_EFFORT, EFFORTS[DEFAULT_EFFORT])


def refuse_effort(model: str, param: str) -> ApiError:
    """The 400 OpenAI answers when a model without reasoning is given an effort."""
    return ApiError(
        400, f"Unsupported parameter: '{param}' is not supported with the model `{model}`.", param=param, code="unsupported_parameter"
    )
