"""Provider text shown in Markdown (summary.md) and in a terminal (the CLI) stays text.

Markdown: GitHub renders summary.md (a job summary, a PR comment). Nothing a provider wrote may
become a link, a mention, an image, HTML, a table cell break, or a control sequence. The source is
checked without a renderer (outside code spans: no `@`, no `://`, no `www.`, no raw `<`), and,
where cmark-gfm (GitHub's own parser, the `cmarkgfm` package) is installed, the rendered HTML is
checked too: no element but the ones our layout uses, every table row as wide as its header, and
no text outside <code> that GitHub's post-render filters would turn into a mention, an issue
reference or an emoji.

Terminal: the report/diff/merge/gate subcommands print provider names and messages; ESC, OSC
(clipboard writes, hyperlinks), C1 controls and bidi overrides come out as visible escapes.
"""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import pytest

from conformance import cli
from conformance.report import render_markdown
from conformance.report.markdown import md, md_code
from conformance.report.samples import make_result, make_run
from conformance.results import Expectation, Status, write_results
from conformance.textsafe import CONTROLS, terminal_text

ESC = "\x1b"
# Each one is a way provider text has tried to become something other than text.
HOSTILE = {
    "ansi_clear": f"{ESC}[2J{ESC}[H{ESC}[31mcleared",
    "osc52_clipboard": f"{ESC}]52;c;Y3VybCBldmlsLnNoIHwgc2g={ESC}\\ copied",
    "osc8_hyperlink": f"{ESC}]8;;https://evil.example/{ESC}\\click{ESC}]8;;{ESC}\\",
    "c1_csi": "\x9b31mred\x9b0m",
    "rtl_override": "invoice \u202efdp.exe",
    "bidi_isolate": "a\u2066b\u2069c",
    "bare_url": "see https://evil.example/login now",
    "upper_url": "HTTPS://EVIL.EXAMPLE/x",
    "www": "visit www.evil.example today",
    "email": "write to admin@evil.example",
    "mailto": "mailto:admin@evil.example",
    "mention": "ping @admin and @org/team",
    "issue_ref": "fixes #1 and GH-42",
    "emoji": "it works :tada: :+1:",
    "image": "![pixel](https://evil.example/p.png)",
    "link": "[click](javascript:alert(1))",
    "autolink": "<https://evil.example>",
    "html": "<img src=x onerror=alert(1)><script>alert(2)</script>",
    "entity": "&lt;b&gt; &#64;admin",
    "table_break": "a | b || c",
    "emphasis": "**bold** _it_ ~~strike~~",
    "backticks": "`` `code` ```",
    "math": "$\\href{https://evil.example}{x}$",
    "newlines": "line one\nline two\r\n| fake | row |",
}

# What our own layout puts in summary.md: any other element came from provider text.
LAYOUT_TAGS = {"h2", "h3", "p", "table", "thead", "tbody", "tr", "th", "td", "ul", "li", "strong", "blockquote",
               "code", "em"}
GITHUB_TEXT_FILTERS = {
    "mention": re.compile(r"(?<![\w`])@[A-Za-z0-9]"),
    "issue": re.compile(r"#\d|\bGH-\d", re.IGNORECASE),
    "emoji": re.compile(r":[a-z_+-][a-z0-9_+-]*:"),  # names; `12:00:00` is no emoji (`:100:` is, and harmless)
}
AUTOLINK_SOURCE = re.compile(r"://|\bwww\.", re.IGNORECASE)  # cmark-gfm's triggers, unescaped


def outside_code(source: str) -> str:
    """The Markdown source minus its code spans (CommonMark: a run of n backticks, not escaped,
    up to the next run of exactly n); a backslash-escaped character becomes U+FFFD (it is inert)."""
    out, i = [], 0
    while i < len(source):
        if source[i] == "\\" and i + 1 < len(source):
            out.append("\ufffd")
            i += 2
            continue
        if source[i] == "`":
            run = re.match(r"`+", source[i:]).group()
            close = re.compile(r"(?<!`)" + run + r"(?!`)").search(source, i + len(run))
            if close:
                i = close.end()
                continue
            out.append(run)
            i += len(run)
            continue
        out.append(source[i])
        i += 1
    return "".join(out)


class _Html(HTMLParser):
    """Tags used, table row widths, and the text that is not inside <code>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.row_widths: list[list[int]] = []  # per table
        self.text: list[str] = []
        self._code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs += [(tag, name) for name, _ in attrs]
        if tag == "table":
            self.row_widths.append([])
        elif tag == "tr":
            self.row_widths[-1].append(0)
        elif tag in ("td", "th"):
            self.row_widths[-1][-1] += 1
        elif tag == "code":
            self._code += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "code":
            self._code -= 1

    def handle_data(self, data: str) -> None:
        if not self._code:
            self.text.append(data)


def rendered(source: str) -> _Html:
    cmarkgfm = pytest.importorskip("cmarkgfm", reason="cmark-gfm renders as GitHub does")
    from cmarkgfm.cmark import Options

    html = cmarkgfm.github_flavored_markdown_to_html(source, options=Options.CMARK_OPT_UNSAFE)
    parser = _Html()
    parser.feed(html)
    return parser


def assert_inert_source(source: str) -> None:
    assert not CONTROLS.search(source), source
    text = outside_code(source)
    assert "<" not in text and not re.search(r"@\w", text) and not AUTOLINK_SOURCE.search(text), text
    for name, pattern in GITHUB_TEXT_FILTERS.items():
        assert not pattern.search(text), (name, text)


def assert_inert_html(page: _Html) -> None:
    assert page.tags <= LAYOUT_TAGS, page.tags - LAYOUT_TAGS
    assert not [a for a in page.attrs if a != ("th", "align")], page.attrs
    for table in page.row_widths:
        assert len(set(table)) == 1, table
    text = "".join(page.text)
    for name, pattern in GITHUB_TEXT_FILTERS.items():
        assert not pattern.search(text), (name, text)


# --- md / md_code, one hostile string at a time -------------------------------------------------


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_md_prose_is_inert_in_the_source(text: str) -> None:
    out = md(text)
    assert "\n" not in out
    assert_inert_source(out)


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
@pytest.mark.parametrize("render", ["prose", "code"])
def test_md_is_inert_when_rendered_in_a_table_cell_and_a_list(text: str, render: str) -> None:
    cell = md(text) if render == "prose" else md_code(text)
    item = md(text) if render == "prose" else md_code(text, cell=False)
    page = rendered(f"| a | b |\n|---|---|\n| {cell} | x |\n\n- {item}\n")
    assert_inert_html(page)
    assert page.row_widths == [[2, 2]]


def shown(source: str) -> str:
    """What a reader sees: the rendered HTML's text (first table cell, if there is a table)."""
    cmarkgfm = pytest.importorskip("cmarkgfm", reason="cmark-gfm renders as GitHub does")
    html = cmarkgfm.github_flavored_markdown_to_html(source)
    cell = re.search(r"<td>(.*?)</td>", html, re.DOTALL)
    return unescape(re.sub(r"<[^>]+>", "", cell.group(1) if cell else html)).strip()


@pytest.mark.parametrize(
    "text", ["see https://evil.example/x", "admin@evil.example", "@admin #12", "a | b", "x\\|y", "`tick`", "C# & A_b <T>"]
)
def test_what_is_escaped_still_reads_as_the_provider_wrote_it(text: str) -> None:
    assert shown(md(text)) == text
    assert shown(md_code(text, cell=False)) == text
    assert shown(f"| h |\n|---|\n| {md_code(text)} |\n") == text
    assert shown(f"| h |\n|---|\n| {md(text)} |\n") == text


def test_controls_and_bidi_become_visible_escapes() -> None:
    out = md(HOSTILE["ansi_clear"] + HOSTILE["rtl_override"])
    assert ESC not in out and "\u202e" not in out
    assert "\\\\x1b" in out and "\\\\u202e" in out  # a Markdown-escaped backslash: shows as \x1b
    code = md_code(HOSTILE["osc52_clipboard"])
    assert ESC not in code and "\\x1b]52" in code


def test_code_span_fence_outgrows_any_backtick_run_inside() -> None:
    assert md_code("a ``` b") == "````a ``` b````"
    assert md_code("`x`") == "`` `x` ``"
    assert md_code("") == ""


def test_pipe_in_a_code_span_is_escaped_only_in_table_cells() -> None:
    assert md_code("a|b") == "`a\\|b`"
    assert md_code("a|b", cell=False) == "`a|b`"


def test_times_stay_plain_text() -> None:
    assert md("2025-01-06T02:00:00+00:00") == "2025-01-06T02\\:00\\:00+00\\:00"


def test_md_bounds_length_before_escaping() -> None:
    out = md("@" * 1000, limit=50)
    assert out.count("`@`") == 49 and out.endswith("…")


# --- the whole summary ---------------------------------------------------------------------------


def hostile_summary() -> str:
    values = list(HOSTILE.values())
    results = [
        make_result("evil", "chat.basic", Status.FAIL, model=values[i % len(values)], message=text,
                    expected=None)
        for i, text in enumerate(values)
    ]
    results += [
        make_result("evil", "chat.stop", Status.FAIL, model="m",
                    expected=Expectation(Status.FAIL, HOSTILE["mention"], HOSTILE["bare_url"])),
        make_result("other", "chat.basic", Status.PASS, model=HOSTILE["table_break"]),
    ]
    providers = [
        {"name": "evil", "status": "active", "models": {"chat": values + ["m"]},
         "claims": {HOSTILE["html"]: {HOSTILE["mention"]: True}}},
        {"name": "other", "status": "active", "models": {"chat": [HOSTILE["table_break"]]}},
        {"name": "gone", "status": "skipped", "skip_reason": HOSTILE["osc8_hyperlink"] + HOSTILE["bare_url"]},
    ]
    run = make_run(results, providers=providers, incomplete=True, incomplete_reason=HOSTILE["www"])
    baseline = make_run([make_result("evil", "chat.basic", Status.PASS, model=values[0])])
    return render_markdown(run, baseline=baseline)


def test_summary_source_holds_no_markup_from_providers() -> None:
    text = hostile_summary()
    assert not CONTROLS.search(text)
    for line in text.splitlines():
        if not line.startswith(("#", "✅")):  # headings and the legend are ours
            assert_inert_source(line)


def test_summary_renders_without_links_mentions_images_html_or_broken_tables() -> None:
    page = rendered(hostile_summary())
    assert_inert_html(page)
    assert "a" not in page.tags and "img" not in page.tags


# --- the terminal ----------------------------------------------------------------------------------

TERMINAL_HOSTILE = HOSTILE["ansi_clear"] + HOSTILE["osc52_clipboard"] + HOSTILE["c1_csi"] + HOSTILE["rtl_override"]


def _assert_terminal_safe(output: str) -> None:
    assert not CONTROLS.search(output.replace("\n", "").replace("\t", "")), repr(output[:400])
    assert "\\x1b" in output


def _hostile_results(tmp_path: Path, status: Status, name: str) -> Path:
    run = make_run([
        make_result("evil", "chat.basic", status, model=TERMINAL_HOSTILE, message=TERMINAL_HOSTILE),
        make_result("evil", "stream.framing", status, model="m", message=TERMINAL_HOSTILE),
    ])
    path = tmp_path / name
    write_results(path, run)
    return path


def test_diff_prints_provider_text_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _hostile_results(tmp_path, Status.PASS, "old.json")
    new = _hostile_results(tmp_path, Status.FAIL, "new.json")
    assert cli.main(["diff", str(old), str(new)]) == 1
    _assert_terminal_safe(capsys.readouterr().out)


def test_diff_json_is_escaped_by_json_itself(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    old = _hostile_results(tmp_path, Status.PASS, "old.json")
    new = _hostile_results(tmp_path, Status.FAIL, "new.json")
    cli.main(["diff", "--json", str(old), str(new)])
    out = capsys.readouterr().out
    assert not CONTROLS.search(out) and "\\u001b" in out
    assert json.loads(out)["regressions"][0]["model"] == TERMINAL_HOSTILE


def test_gate_prints_provider_text_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    results = _hostile_results(tmp_path, Status.FAIL, "results.json")
    assert cli.main(["gate", str(results), "--policy", "chat"]) == 1
    _assert_terminal_safe(capsys.readouterr().out)


def test_gate_on_a_missing_or_foreign_file_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["gate", str(tmp_path / "nope.json"), "--policy", "chat"]) == 2
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"format": TERMINAL_HOSTILE}), encoding="utf-8")
    assert cli.main(["gate", str(foreign), "--policy", "chat"]) == 2
    err = capsys.readouterr().err
    assert "nope.json" in err and not CONTROLS.search(err.replace("\n", ""))


def test_report_and_merge_errors_print_file_text_inert(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"format": TERMINAL_HOSTILE}), encoding="utf-8")
    assert cli.main(["report", str(foreign)]) == 2
    assert cli.main(["merge", str(foreign), "-o", str(tmp_path / "m.json")]) == 2
    assert cli.main(["diff", str(foreign), str(foreign)]) == 2
    err = capsys.readouterr().err
    assert err.count("not a results file") == 3 and not CONTROLS.search(err.replace("\n", ""))


def test_terminal_text_keeps_lines_unless_asked_for_one() -> None:
    assert terminal_text("a\nb\tc\r") == "a\nb\tc\\r"
    assert terminal_text("a\nb", one_line=True) == "a\\nb"
