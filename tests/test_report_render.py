"""matrix.html and summary.md, specified: self-contained, hostile provider text stays text, bounded size.

Provider output is hostile input. Every string a provider controls (answers in evidence, error
messages, model names, claim keys, expectation reasons) carries PAYLOAD here; the page must show it
as text and the only <script> elements must be our two.
"""

from __future__ import annotations

import json
import re
from html import unescape
from pathlib import Path

import pytest

from conformance.report import render_html, render_markdown, write_reports
from conformance.report.history import append_history
from conformance.report.html import _asset, _csp
from conformance.report.markdown import MAX_BYTES, md, render_summary
from conformance.report.matrix import build_matrix, script_json
from conformance.report.samples import exchange, make_result, make_run, synthetic_history, synthetic_run
from conformance.results import Evidence, Expectation, Finding, SchemaError, Status

PAYLOAD = "<script>alert(1)</script></script><!-- <img src=x onerror=alert(2)> \u2028 & \"'`|@admin"
JSON_BLOCK = re.compile(r'<script type="application/json" id="page-data">(.*?)</script>', re.DOTALL)


def hostile_run():
    ev = Evidence(
        exchanges=(exchange(answer=PAYLOAD, stream=True), exchange(answer=PAYLOAD)),
        schema_errors=(
            SchemaError("chat_completion", "/x", "type", PAYLOAD, PAYLOAD, "must"),
        ),
        findings=(Finding("bad", PAYLOAD),),
        notes=(PAYLOAD,),
    )
    results = [
        make_result(
            "evil",
            "chat.basic",
            Status.FAIL,
            model=PAYLOAD,
            message=PAYLOAD,
            evidence=ev,
            expected=Expectation(Status.FAIL, PAYLOAD, "javascript:alert(3)"),
        ),
        make_result("evil", "chat.stop", Status.PASS, model=PAYLOAD, message=PAYLOAD, evidence=ev),
    ]
    providers = [
        {
            "name": "evil",
            "base_url": PAYLOAD,
            "models": {"chat": [PAYLOAD]},
            "tags": [PAYLOAD],
            "status": "active",
            "claims": {PAYLOAD: {PAYLOAD: True, "chat.basic": True}},
        }
    ]
    return make_run(results, providers=providers, incomplete=True, incomplete_reason=PAYLOAD)


def test_hostile_text_never_becomes_markup() -> None:
    html = render_html(hostile_run())
    assert "<script>alert" not in html and "<img src=x" not in html and "<!-- <img" not in html
    assert html.count("<script") == 2 and html.lower().count("</script") == 2
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # shown, escaped, in the page itself


def test_evidence_json_block_round_trips_the_payload_without_closing_the_script() -> None:
    html = render_html(hostile_run())
    block = JSON_BLOCK.search(html).group(1)
    assert "<" not in block and ">" not in block and "&" not in block and "\u2028" not in block
    evidence = json.loads(block)["cells"]
    assert evidence[0]["message"] == PAYLOAD
    assert "<script>alert(1)</script></script>" in evidence[0]["exchanges"][1]["response"]["body"]
    assert evidence[0]["notes"] == [PAYLOAD]
    assert evidence[0]["expected"]["reason"] == PAYLOAD


def test_script_json_escapes_every_character_that_could_end_a_script_block() -> None:
    text = script_json({"a": "</script><!--\u2028\u2029&"})
    assert re.fullmatch(r"[^<>&\u2028\u2029]*", text)
    assert json.loads(text) == {"a": "</script><!--\u2028\u2029&"}


def test_the_page_is_self_contained_and_its_csp_allows_only_our_script() -> None:
    html = render_html(synthetic_run(3, 20))
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html, re.IGNORECASE)
    assert "@import" not in html and not re.search(r"url\((?!data:)", html)
    csp = unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1))
    assert "default-src 'none'" in csp and "'unsafe-inline'" not in csp.split("style-src")[0]
    assert _csp(_asset("matrix.js")) == csp  # the hash is of exactly the script we inline
    assert f"<script>{_asset('matrix.js')}</script>" in html


def test_header_shows_run_metadata_tokens_and_cost() -> None:
    run = synthetic_run(4, 12)
    html = render_html(run)
    for text in (run.run.started_at, "11 min 42 s", "0.1.0", "9f3c2e1d4b5a", "v1", "providers have prices"):
        assert text in html
    m = build_matrix(run)
    assert m.header["tokens"] == sum(r.tokens.total for r in run.results)
    assert m.header["cost"] > 0


def test_incomplete_run_and_catalog_mismatch_are_banners() -> None:
    run = make_run([make_result()], incomplete=True, incomplete_reason="interrupted by SIGTERM")
    html = render_html(run, baseline=make_run([make_result()], catalog_version="0"))
    assert "Incomplete run." in html and "interrupted by SIGTERM" in html
    assert "CATALOG VERSIONS DIFFER" in html


def test_baseline_changes_are_listed_regressions_first_and_cells_highlighted() -> None:
    old = make_run([make_result("a", "chat.basic"), make_result("a", "chat.stop", Status.FAIL)])
    new = make_run([make_result("a", "chat.basic", Status.FAIL), make_result("a", "chat.stop")])
    html = render_html(new, baseline=old)
    assert html.index("▼ regression") < html.index("▲ fix")
    assert "chg-regression" in html and "chg-fix" in html


def test_write_reports_writes_both_files_and_uses_history(tmp_path: Path) -> None:
    history = synthetic_history(3, n_providers=3, n_checks=10)
    for r in history[:-1]:
        append_history(r, tmp_path / "history")
    paths = write_reports(history[-1], tmp_path / "out", history_dir=tmp_path / "history", baseline=history[-2])
    assert set(paths) == {"html", "markdown"}
    assert paths["html"].name == "matrix.html" and paths["markdown"].name == "summary.md"
    html = paths["html"].read_text(encoding="utf-8")
    assert '<svg class="spark"' in html and "Trend, last 3 runs" in html
    assert paths["markdown"].read_text(encoding="utf-8").startswith("## OpenAI compatibility")


def test_write_reports_without_history_dir_has_no_trends(tmp_path: Path) -> None:
    paths = write_reports(synthetic_run(2, 8), tmp_path)
    assert "<svg" not in paths["html"].read_text(encoding="utf-8")


# --- summary.md -----------------------------------------------------------------------------------


def test_markdown_escapes_provider_text() -> None:
    out = md(PAYLOAD)
    assert "<" not in out and ">" not in out and "@admin" not in out and "\n" not in out
    assert "\\|" in out and "\\`" in out


def test_summary_puts_regressions_on_top_and_escapes_everything() -> None:
    old = make_run([make_result("a", "chat.basic"), make_result("b", "chat.basic")])
    new = make_run([make_result("a", "chat.basic", Status.FAIL, message=PAYLOAD), make_result("b", "chat.basic")])
    text = render_markdown(new, baseline=old)
    assert text.index("Regressions") < text.index("### Scores") < text.index("### Matrix")
    assert "<script" not in text and "@admin" not in text


def test_summary_table_rows_have_as_many_cells_as_the_header() -> None:
    text = render_markdown(hostile_run())
    table = [line for line in text.split("### Matrix")[1].splitlines() if line.startswith("|")]
    widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table}
    assert len(widths) == 1


def test_summary_lists_claimed_but_broken_and_expected_gaps() -> None:
    run = make_run(
        [
            make_result("a", "chat.logprobs", Status.FAIL, model="m"),
            make_result("a", "chat.stop", Status.FAIL, model="m", expected=Expectation(Status.FAIL, "known")),
        ],
        providers=[{"name": "a", "models": {"chat": ["m"]}, "claims": {"m": {"logprobs": True}}}],
    )
    text = render_markdown(run)
    assert "Claimed but broken (1)" in text and "📌" in text
    assert "### 📌 Known gaps (1)" in text and "chat.stop: fail — known" in text


def test_summary_of_a_large_run_fits_the_cap() -> None:
    text = render_markdown(synthetic_run(40, 60))
    assert len(text.encode("utf-8")) <= MAX_BYTES


def test_summary_says_so_when_cut() -> None:
    text = render_summary(build_matrix(synthetic_run(10, 60)), max_bytes=4000)
    assert len(text.encode("utf-8")) <= 4000
    assert "Summary cut at 4 KB" in text.splitlines()[-1]


@pytest.mark.parametrize("status", list(Status))
def test_every_status_renders_in_both_formats(status: Status) -> None:
    run = make_run([make_result("a", "chat.basic", status)])
    assert status.value in render_html(run)
    assert "### Matrix" in render_markdown(run)


def test_an_empty_run_still_renders() -> None:
    run = make_run([], providers=[{"name": "lonely"}])
    assert "lonely" in render_html(run)
    assert "not evaluated" in render_markdown(run)
