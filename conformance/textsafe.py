"""Provider text made inert for a terminal: no control sequences, no bidi overrides, bounded.

Providers are untrusted: an error body can carry ANSI/OSC escape sequences (clear the screen,
write the clipboard through OSC 52, hide a hyperlink behind OSC 8) or U+202E, which reorders
what a reader sees. Everything printed to stdout/stderr that came from a provider passes through
`terminal_text`. HTML has its own escaping (autoescaped templates) and Markdown its own
(`report/markdown.py`); shell commands are `shlex.quote`d in `transport.py`.
"""

from __future__ import annotations

import re

# C0 controls except TAB/LF (handled below), DEL, C1 controls, and the Unicode bidi controls
# (LRM/RLM/ALM, embeddings/overrides U+202A-202E, isolates U+2066-2069).
CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def strip_controls(text: str) -> str:
    """Every control and bidi character shown as a visible escape (`\\x1b`, `\\u202e`)."""
    return CONTROLS.sub(_visible, text)


def terminal_text(text: object, limit: int | None = 2000, one_line: bool = False) -> str:
    """`text` safe to print to a terminal: controls escaped, optionally on one line, bounded."""
    s = str(text)
    if one_line:
        s = s.replace("\r", "\\r").replace("\n", "\\n").replace("\t", " ")
    else:
        s = s.replace("\r", "\\r")
    s = strip_controls(s)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "…"
    return s
