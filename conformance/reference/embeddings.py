"""The reference embedding model: deterministic vectors where related sentences are close.

What lives here: text and token inputs -> L2-normalised 64-dimension vectors built from hashed
word features (lower-casing, stop words dropped, a tiny stemmer and a synonym table, so "The cat
sleeps on the sofa." and "A kitten is napping on the couch." share most features), truncation
for `dimensions`, and the float32 / base64 encodings. What does not: the HTTP shape of the
response (render.py) or request validation (validation.py).
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
from collections.abc import Iterable, Sequence

from conformance.reference.models import EMBED_DIMENSIONS

__all__ = ["embed", "embed_text", "embed_tokens", "float32", "to_base64", "truncate"]

_STOP = frozenset(
    "a an the is are was were be been am on in at of to and or but it its this that these those with by "
    "for from as into onto over under has have had do does did so very".split()
)
_SYNONYMS = {
    "kitten": "cat", "kitty": "cat", "feline": "cat", "puppy": "dog", "canine": "dog", "hound": "dog",
    "couch": "sofa", "settee": "sofa", "nap": "sleep", "napping": "sleep", "sleeps": "sleep",
    "sleeping": "sleep", "asleep": "sleep", "doze": "sleep", "dozing": "sleep", "slumber": "sleep",
    "automobile": "car", "vehicle": "car", "auto": "car", "big": "large", "huge": "large",
    "tiny": "small", "little": "small", "happy": "glad", "joyful": "glad", "quick": "fast",
    "rapid": "fast", "speedy": "fast", "begin": "start", "commence": "start", "purchase": "buy",
    "film": "movie", "physician": "doctor", "income": "revenue", "earnings": "revenue",
    "rose": "grow", "increased": "grow", "grew": "grow", "sales": "revenue", "quarterly": "quarter",
    "soccer": "football", "game": "match", "finished": "end", "ended": "end", "tie": "draw",
}
_SUFFIXES = ("ingly", "edly", "ing", "ed", "es", "s", "ly")
_WORD = re.compile(r"[^\W_]+")
_SURFACE_WEIGHT = 0.35  # the word as written: related sentences stay close but not identical


def _stem(word: str) -> str:
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _canonical(word: str) -> str:
    return _SYNONYMS.get(word) or _SYNONYMS.get(_stem(word)) or _stem(word)


def _hashed(features: Iterable[tuple[str, float]], dims: int = EMBED_DIMENSIONS) -> list[float]:
    vec = [0.0] * dims
    for feature, weight in features:
        digest = hashlib.sha256(feature.encode("utf-8", "surrogatepass")).digest()
        # Four signed buckets per feature, the k-th within the first dims/8, dims/4, dims/2, dims
        # components: like Matryoshka embeddings, a truncated prefix (`dimensions`) keeps meaning.
        for k in range(4):
            span = max(dims >> (3 - k), 1)
            bucket = int.from_bytes(digest[4 * k : 4 * k + 3], "big") % span
            sign = 1.0 if digest[4 * k + 3] & 1 else -1.0
            vec[bucket] += sign * weight
    return vec


def _normalised(vec: Sequence[float]) -> list[float] | None:
    norm = math.sqrt(sum(x * x for x in vec))
    return [x / norm for x in vec] if norm > 1e-12 else None


def embed_text(text: str) -> list[float]:
    words = [w.lower() for w in _WORD.findall(text)]
    content = [w for w in words if w not in _STOP]
    features = [("w:" + _canonical(w), 1.0) for w in content]
    features += [("s:" + w, _SURFACE_WEIGHT) for w in content]
    vec = _normalised(_hashed(features)) or _normalised(_hashed(("w:" + w, 1.0) for w in words))
    return vec or _normalised(_hashed([("text:" + text, 1.0)])) or [1.0] + [0.0] * (EMBED_DIMENSIONS - 1)


def embed_tokens(tokens: Sequence[int]) -> list[float]:
    vec = _normalised(_hashed((f"tok:{t}", 1.0) for t in tokens))
    return vec or [1.0] + [0.0] * (EMBED_DIMENSIONS - 1)


def embed(item: str | Sequence[int]) -> list[float]:
    """One input (a string, or a list of token ids) -> its full-size unit vector."""
    return embed_text(item) if isinstance(item, str) else embed_tokens(item)


def truncate(vec: Sequence[float], dims: int) -> list[float]:
    """The first `dims` components, renormalised (what OpenAI's `dimensions` does)."""
    return _normalised(vec[:dims]) or [1.0] + [0.0] * (dims - 1)


def float32(vec: Sequence[float]) -> list[float]:
    """The vector rounded to float32, so the float and base64 encodings agree exactly."""
    return list(struct.unpack(f"<{len(vec)}f", struct.pack(f"<{len(vec)}f", *vec)))


def to_base64(vec: Sequence[float], fmt: str = "f") -> str:
    """Little-endian float32 (`fmt="f"`) or float64 (`"d"`) bytes, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vec)}{fmt}", *vec)).decode("ascii")
