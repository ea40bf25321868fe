"""The reference model's tokenizer and its log probabilities.

What lives here: a deterministic stand-in for a BPE tokenizer (regex pieces: a run of letters, a
run of digits, or one other character, each carrying the whitespace before it) used for usage
counts, `max_tokens` cuts and stream deltas; and the per-token log probabilities the reference
model reports. What does not: deciding what to answer (responder.py) or the wire shape of a
response (render.py).

The tokenizer is lossless: "".join(tokenize(text)) == text for every string.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

__all__ = ["count_tokens", "token_logprobs", "tokenize"]

# letters (any script) | digits | underscore | one other non-space character, with the
# whitespace before it; trailing whitespace is a piece of its own.
_PIECE = re.compile(r"\s*(?:[^\W\d_]+|\d+|_|[^\w\s])|\s+")

# Plausible runner-up tokens for top_logprobs (any 19 distinct ones would do).
_COMMON = (" the", " a", ",", ".", " and", " I", "\n", " to", " of", " is", " it", " in", " that",
           " for", " you", " on", " with", " be", " this", " not", " are", "!", "?", " we")


def tokenize(text: str) -> list[str]:
    """The token pieces of `text`, in order."""
    return _PIECE.findall(text)


def count_tokens(text: str) -> int:
    return len(_PIECE.findall(text))


def _unit(*parts: object) -> float:
    """A deterministic number in [0, 1) derived from `parts`."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8", "surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _entry(token: str, logprob: float) -> dict[str, Any]:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8", "surrogatepass"))}


def _alternatives(token: str, wanted: int) -> list[str]:
    core = token.strip()
    pool = [core, " " + core, token.lower(), token.upper(), token.capitalize(), *_COMMON]
    seen = {token, ""}
    out: list[str] = []
    for candidate in pool:
        if candidate not in seen:
            seen.add(candidate)
            out.append(candidate)
    k = 0
    while len(out) < wanted:
        out.append(f"<alt{k}>")
        k += 1
    return out[:wanted]


def token_logprobs(text: str, top: int) -> list[dict[str, Any]]:
    """OpenAI `ChatCompletionTokenLogprob` objects for each token of `text`.

    The chosen token is always the most likely one (logprob in (-0.5, 0]); `top` alternatives
    (0..20, the chosen token first) follow with strictly lower log probabilities.
    """
    out = []
    for position, token in enumerate(tokenize(text)):
        chosen = -round(_unit("lp", position, token) * 0.5, 6)
        entry = _entry(token, chosen)
        ranked = [_entry(token, chosen)]
        for rank, alt in enumerate(_alternatives(token, max(top - 1, 0)), start=1):
            ranked.append(_entry(alt, round(chosen - rank * 1.5 - _unit("alt", position, alt), 6)))
        entry["top_logprobs"] = ranked[:top]
        out.append(entry)
    return out
