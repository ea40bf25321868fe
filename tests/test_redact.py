"""The redactor: every encoding of a secret and every long-enough piece of one goes; nothing else does,
and redaction never decides a verdict."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, quote_plus

import pytest

from conformance.redact import MIN_SEARCH_LENGTH, REDACTED, Redactor, Secret

KEY = "sk-proj-9f8e7d6c5b4a39281706AbCdEf"
SYMBOLS = "q+/=Zx9_8y7-w6v5"


def escaped(s: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in s)


def leaks(text: str, secret: str, size: int = 12) -> list[str]:
    low = text.lower()
    return [secret[i:i + size] for i in range(len(secret) - size + 1) if secret[i:i + size].lower() in low]


ECHOES = {
    "raw": lambda s: s,
    "upper": str.upper,
    "lower": str.lower,
    "json": lambda s: json.dumps(s)[1:-1],
    "json slash": lambda s: s.replace("/", "\\/"),
    "json every char": escaped,
    "json upper hex": lambda s: "".join(f"\\u{ord(c):04X}" for c in s),
    "percent": lambda s: quote(s, safe=""),
    "percent plus": quote_plus,
    "percent lower hex": lambda s: quote(s, safe="").lower(),
    "mixed": lambda s: s[:5] + escaped(s[5:9]) + quote(s[9:], safe=""),
    "cut head": lambda s: s[3:],
    "cut tail": lambda s: s[:-3],
}


@pytest.mark.parametrize("secret", [KEY, SYMBOLS + SYMBOLS])
@pytest.mark.parametrize("form", sorted(ECHOES))
def test_every_encoding_of_a_secret_is_redacted(secret: str, form: str) -> None:
    text = f'{{"error": "bad key {ECHOES[form](secret)} given"}}'
    out = Redactor([secret]).text(text)
    assert REDACTED in out and out.startswith('{"error": "bad key ') and out.endswith(' given"}')
    decoded = out.replace("\\u", "%u")  # nothing decodable back to the secret either
    assert leaks(out, secret) == [] and leaks(json.loads(f'"{out[11:-2]}"') if "\\u" in out else decoded, secret) == []


@pytest.mark.parametrize("prefix", ["", "u:", "user:", "Bearer "])
def test_a_secret_inside_base64_is_redacted_at_any_alignment(prefix: str) -> None:
    echoed = base64.b64encode(f"{prefix}{KEY}".encode()).decode()
    out = Redactor([KEY]).text(f"Authorization: Basic {echoed}")
    assert REDACTED in out
    kept = out.removeprefix("Authorization: Basic ").replace(REDACTED, "")
    assert len(kept) <= len(prefix) * 4 / 3 + 6  # the prefix's own base64 and a few edge characters


def test_one_run_becomes_one_marker_and_the_rest_is_kept() -> None:
    out = Redactor([KEY]).text(f"a {KEY}{KEY} b {KEY.upper()} c")
    assert out == f"a {REDACTED} b {REDACTED} c"


def test_pieces_shorter_than_the_window_survive_and_unrelated_text_is_untouched() -> None:
    r = Redactor([KEY])
    assert r.text("sk-proj is a prefix; 9f8e7 too") == "sk-proj is a prefix; 9f8e7 too"
    body = json.dumps({"choices": [{"message": {"content": "héllo wörld " * 50}}]})
    assert r.text(body) is body


def test_short_secrets_are_not_searched_and_the_count_is_reported() -> None:
    r = Redactor([Secret("data", "$API_KEY"), Secret(KEY, "$X")])
    assert r.text('data: {"data": [1]}') == 'data: {"data": [1]}'
    assert r.unsearched == 1 and len("data") < MIN_SEARCH_LENGTH


def test_redaction_never_changes_a_verdict_even_for_a_key_that_is_everywhere() -> None:
    """A key `data` is in every SSE field name: searching bodies for it would have failed a
    conformant server (it did: 22 checks). Verdicts read the raw bytes."""
    from conformance.providers import Provider
    from conformance.reference.server import ServerConfig
    from conformance.reference.testing import running_server
    from conformance.results import Status
    from conformance.runner import run_provider

    with running_server(ServerConfig(api_key="data")) as url:
        provider = Provider(name="short", base_url=url, api_key_env="K", api_key="data", timeout_s=20,
                            models={"chat": (m := _model("ref-chat"),), "tools": (m,), "embeddings": (_model("ref-embed"),)})
        results = run_provider(provider, areas=("stream", "chat", "embeddings", "usage", "tools"))
    bad = {r.check: r.message for r in results if r.status not in (Status.PASS, Status.SKIPPED)}
    assert bad == {}
    assert provider.redaction() == {"secrets": 1, "unsearched": 1, "min_length": MIN_SEARCH_LENGTH}


def _model(name: str):
    from conformance.providers import ModelConfig

    return ModelConfig(name, 64, "max_tokens")


def test_the_reports_say_when_a_secret_was_too_short_to_search_for() -> None:
    from conformance.report.html import render_html
    from conformance.report.markdown import render_markdown
    from conformance.report.samples import make_result, make_run

    result = make_result("short", "chat.basic", model="m")
    entry = {"name": "short", "base_url": "http://127.0.0.1:9/v1", "models": {"chat": ["m"]}, "status": "active",
             "redaction": {"secrets": 2, "unsearched": 1, "min_length": MIN_SEARCH_LENGTH}}
    run = make_run([result], providers=[entry])
    note = f"1 secret shorter than {MIN_SEARCH_LENGTH} characters is not searched for"
    assert note in render_markdown(run)
    assert note in render_html(run)
    clean = make_run([result], providers=[{**entry, "redaction": {"secrets": 2, "unsearched": 0}}])
    assert "not searched for" not in render_markdown(clean) + render_html(clean)


@pytest.mark.parametrize("content", [
    b'{"format": "openai-compat-conformance.results"}',
    b'{"format": "openai-compat-conformance.results", "run": {}, "providers": [], "catalog": {}, "results": [{}]}',
    b'[1, 2]', b'\xff\xfe', b'{"a": ' * 5000,
])
@pytest.mark.parametrize("command", ["report", "diff", "merge", "gate"])
def test_a_hostile_results_file_is_a_usage_error_not_a_traceback(tmp_path, capsys, content: bytes, command: str) -> None:
    from conformance.cli import main

    bad = tmp_path / "results.json"
    bad.write_bytes(content)
    argv = {"report": ["report", str(bad), "--out", str(tmp_path / "o")], "diff": ["diff", str(bad), str(bad)],
            "merge": ["merge", str(bad), "-o", str(tmp_path / "m.json")], "gate": ["gate", str(bad), "--policy", "chat"]}
    assert main(argv[command]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(bad) in err
