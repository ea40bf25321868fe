"""Secrets out of everything we record: the raw value, its encodings, and pieces of it.

A secret is every value that came from the environment (the API key, anything interpolated from
`${VAR}` that is not listed in `public_env`) and every secret-named literal in the config
(`x-api-key: ...`). Two ways keep them out of outputs:

- What *we* sent is shown structurally: a secret value in a header, the URL or the query is
  replaced by its placeholder (`$API_KEY`, `$AZURE_CODE`) where the request is recorded, so the
  evidence and the curl say where the secret goes without containing it (`shown()` in transport).
- What a *provider* sent back is untrusted and may echo a secret in any form: raw, upper- or
  lower-cased, JSON-escaped (`\\u0073\\u006b...`, `\\/`), percent-encoded (`%2B`), or inside base64
  (an echoed `Authorization: Basic ...`). `Redactor` finds any run of at least `WINDOW` characters
  of a secret in any mixture of those encodings, and any `B64_WINDOW` characters of its base64 at
  any alignment, and replaces the whole run. Runs shorter than that can survive at the edge of a
  cut excerpt: too short to be useful to anyone, too short to search for without false hits.

Verdicts are never taken on redacted data: checks read the raw bytes, and only what is recorded
(messages, evidence, logs) passes through here. Secrets shorter than `MIN_SEARCH_LENGTH` are not
searched for in provider text at all (a key `data` would erase every SSE field name); they are
still replaced where we show what we sent, and the report says how many there were.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

REDACTED = "***REDACTED***"
MIN_SEARCH_LENGTH = 8
WINDOW = 8  # characters of a secret that are searched for (in any encoding mixture)
B64_WINDOW = 12  # characters of a secret's base64 that are searched for


@dataclass(frozen=True)
class Secret:
    """A secret value and the placeholder that stands for it where we show what we sent."""

    value: str
    placeholder: str = "$SECRET"

    @property
    def searchable(self) -> bool:
        return len(self.value) >= MIN_SEARCH_LENGTH


def _char_pattern(c: str) -> str:
    """One character of a secret in any encoding a server may echo it in (case-insensitive)."""
    code = ord(c)
    forms = [re.escape(c)]
    if code < 0x10000:
        forms.append(rf"\\u{code:04x}")
    if code < 0x80:
        forms.append(f"%{code:02x}")
        if not c.isalnum():
            forms.append(re.escape("\\" + c))  # JSON's optional escapes: \/ (and \" \\)
    if c == " ":
        forms.append(r"\+")
    return "(?:" + "|".join(forms) + ")"


def _trie_regex(words: Iterable[str], atom) -> str:
    """One alternation for many words, factored by common prefix (fast in `re`)."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, Any]) -> str:
        branches = [atom(ch) + emit(child) for ch, child in sorted(node.items()) if ch]
        optional = "" in node
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if optional else body

    return emit(trie)


def _b64_forms(value: bytes) -> set[str]:
    """The stable middle of value's base64 at each of the three alignments it may sit at inside a
    longer base64 string (standard and URL-safe alphabets)."""
    out: set[str] = set()
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + value).decode("ascii")
        start = -(-8 * pad // 6)  # the first characters also carry bits of what precedes
        stable = encoded[start : 8 * (pad + len(value)) // 6]  # the last ones, of what follows
        if len(stable) >= B64_WINDOW:
            out.add(stable)
            out.add(stable.replace("+", "-").replace("/", "_"))
    return out


class Redactor:
    """Replaces every secret, in any encoding and in pieces of `WINDOW` or more characters."""

    def __init__(self, secrets: Iterable[Secret | str]) -> None:
        found = {s.value if isinstance(s, Secret) else s for s in secrets}
        self._values = tuple(sorted((v for v in found if v), key=len, reverse=True))
        self._searched = tuple(v for v in self._values if len(v) >= MIN_SEARCH_LENGTH)
        self._text_re = self._b64_re = None
        self._b64_full: tuple[str, ...] = ()
        if self._searched:
            windows = {v[i : i + WINDOW].lower() for v in self._searched for i in range(len(v) - WINDOW + 1)}
            self._text_re = re.compile(_trie_regex(windows, _char_pattern), re.IGNORECASE)
            b64 = {f[i : i + B64_WINDOW] for v in self._searched for f in _b64_forms(v.encode("utf-8"))
                   for i in range(len(f) - B64_WINDOW + 1)}
            if b64:
                self._b64_re = re.compile(_trie_regex(b64, re.escape))
                self._b64_full = tuple(sorted({f for v in self._searched for f in _b64_forms(v.encode())},
                                              key=len, reverse=True))
        # Cheap pre-checks (C-level substring search): any WINDOW-run of a secret contains one of
        # its aligned WINDOW/2 pieces, and any B64_WINDOW-run of a base64 form one of its aligned
        # B64_WINDOW/2 pieces; only a text that holds one is searched with the full patterns.
        self._anchors = {v.lower()[i : i + WINDOW // 2] for v in self._searched
                         for i in range(0, len(v) - WINDOW // 2 + 1, WINDOW // 2)}
        self._b64_anchors = {f[i : i + B64_WINDOW // 2] for f in self._b64_full
                             for i in range(0, len(f) - B64_WINDOW // 2 + 1, B64_WINDOW // 2)}
        self._non_ascii = any(not v.isascii() for v in self._searched)
        self._chars = {c: re.compile(_char_pattern(c), re.IGNORECASE) for v in self._searched for c in set(v)}

    @property
    def secrets(self) -> tuple[str, ...]:
        return self._values

    @property
    def unsearched(self) -> int:
        """How many secrets are too short to be searched for in provider text."""
        return len(self._values) - len(self._searched)

    def text(self, value: str) -> str:
        """`value` with every secret run replaced (never raises, returns `value` when clean)."""
        if not self._searched or not value:
            return value
        if self._text_re is not None and self._may_hold(value) and self._text_re.search(value):
            value = self._replace(value, self._text_re, self._extend_text)
        if self._b64_re is not None and any(a in value for a in self._b64_anchors) and self._b64_re.search(value):
            value = self._replace(value, self._b64_re, self._extend_b64)
        return value

    def _may_hold(self, value: str) -> bool:
        low = value.lower()
        if any(a in low for a in self._anchors):
            return True
        if "\\" in value or "%" in value or "+" in value:
            decode = _decode if self._non_ascii else _decode_ascii
            decoded = {decode(value, plus=" ").lower(), decode(value, plus="+").lower()}
            return any(a in d for d in decoded for a in self._anchors)
        return False

    def bytes(self, value: bytes) -> bytes:
        text = value.decode("utf-8", errors="surrogateescape")
        clean = self.text(text)
        return value if clean is text else clean.encode("utf-8", errors="surrogateescape")

    def value(self, value: Any) -> Any:
        """A JSON-like value with every string (keys too) redacted."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    @staticmethod
    def _replace(text: str, pattern: re.Pattern[str], extend) -> str:
        out, pos = [], 0
        while (m := pattern.search(text, pos)) is not None:
            if m.start() > pos or not out:
                out += [text[pos : m.start()], REDACTED]
            pos = extend(text, m)  # a run that continues right after the last one stays one marker
        out.append(text[pos:])
        return "".join(out)

    def _extend_text(self, text: str, m: re.Match[str]) -> int:
        """Where the secret run that `m` starts really ends: the window, then as many further
        characters of the same secret as follow, in any encoding."""
        best = m.end()
        for decoded in {_decode(m.group(), plus=" ").lower(), _decode(m.group(), plus="+").lower()}:
            best = max(best, self._extend_from(text, m.end(), decoded))
        return best

    def _extend_from(self, text: str, end: int, decoded: str) -> int:
        best = end
        for value in self._searched:
            low = value.lower()
            start = low.find(decoded)
            while start != -1:
                pos, i = end, start + len(decoded)
                while i < len(value):
                    step = self._chars[value[i]].match(text, pos)
                    if step is None:
                        break
                    pos, i = step.end(), i + 1
                best = max(best, pos)
                start = low.find(decoded, start + 1)
        return best

    def _extend_b64(self, text: str, m: re.Match[str]) -> int:
        best = m.end()
        for form in self._b64_full:
            start = form.find(m.group())
            while start != -1:
                pos, i = m.end(), start + len(m.group())
                while i < len(form) and pos < len(text) and text[pos] == form[i]:
                    pos, i = pos + 1, i + 1
                best = max(best, pos)
                start = form.find(m.group(), start + 1)
        return best


_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})|%([0-9a-fA-F]{2})|\\(.)|\+", re.DOTALL)
_ESCAPE_ASCII = re.compile(r"\\u(00[0-7][0-9a-fA-F])|%([0-7][0-9a-fA-F])|\\([^0-9A-Za-z])|\+")


def _decode(text: str, plus: str, pattern: re.Pattern[str] = _ESCAPE) -> str:
    """The characters a matched run stands for (its \\u, %XX, \\/ and + escapes undone)."""

    def one(m: re.Match[str]) -> str:
        if m.group(1):
            return chr(int(m.group(1), 16))
        if m.group(2):
            return chr(int(m.group(2), 16))
        if m.group(3) is not None:
            return m.group(3)
        return plus

    return pattern.sub(one, text)


def _decode_ascii(text: str, plus: str) -> str:
    """`_decode` for ASCII secrets: only escapes of ASCII characters are undone (fast on text full
    of escaped accents, which cannot be part of such a secret)."""
    return _decode(text, plus, _ESCAPE_ASCII)
