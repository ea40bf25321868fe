"""The matrix view model -> summary.md, short enough for a GitHub job summary or a PR comment.

What lives here: Markdown rendering, Markdown escaping of untrusted text, and the size cap.
What does not: layout (matrix.py builds it; this module only prints it).

Order is by urgency, so that a cut loses the least important part: header, regressions,
claimed-but-broken, scores, client libraries ("will my stack work?"), the matrix, failures, known
gaps, fixes. The output is capped at MAX_BYTES
(UTF-8) and says so when cut. Provider text is escaped so that it cannot open tables, links,
HTML or @-mentions in a PR comment: prose through `md`, names and links as code spans (`md_code`).
"""

from __future__ import annotations

import re

from conformance.report.claims import CLAIMED_BROKEN
from conformance.report.clients import STATES as CLIENT_STATES
from conformance.report.clients import BreakingStep, ClientImpact, LibraryVerdict, StackRow
from conformance.report.diff import FIX, REGRESSION
from conformance.report.matrix import BROKEN, Cell, Matrix, ProviderView, build_matrix
from conformance.report.scores import Score, one_line
from conformance.results import RunResults, Status

MAX_BYTES = 60_000
SYMBOLS = {
    "pass": "✅",
    "fail": "❌",
    "error": "⚠️",
    "unsupported": "🚫",
    "skipped": "⏭️",
    "flaky": "🎲",
    "absent": "—",
}
EXPECTED = "📌"
LEGEND = (
    "✅ pass · ❌ fail · 🎲 flaky (repeats disagreed) · ⚠️ error (no verdict) · 🚫 unsupported (clean refusal) · ⏭️ skipped · "
    "📌 known gap (`expect:`) · — not run · ▼ regression · ▲ fix · 💥 claimed but broken"
)
# What each piece of untrusted prose becomes, matched left to right (see `md`).
_MD_PROSE = re.compile(
    r"(?P<ref>#\d+|(?<![A-Za-z0-9])GH-\d+|:[a-z_+-][a-z0-9_+-]*:)"  # a reference, an emoji name (not 12:00:00)
    r"|(?P<at>@)"  # mentions and e-mail autolinks need an @ in a text node: this one is in code
    r"|(?P<www>(?i:www)\.)"  # extended www. autolink
    r"|(?P<entity>[&<>])"  # HTML, entities, <autolinks>
    r"|(?P<char>[\\`*_\[\]|~:$])"  # emphasis, code, links, images, tables, strike, scheme://, math
)
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def _prose_piece(m: re.Match[str]) -> str:
    if m.group("ref"):
        return f"`{m.group()}`"
    if m.group("at"):
        return "`@`"
    if m.group("www"):
        return m.group()[:-1] + "\\."
    if m.group("entity"):
        return _ENTITIES[m.group()]
    return "\\" + m.group()


def md(text: object, limit: int = 200) -> str:
    """Untrusted text as inert GitHub Markdown prose on one line.

    Each character that could open markup is escaped: no emphasis, code, link, image, table cell,
    HTML or math. GitHub also turns text into links *after* rendering (mentions, `#12`, `GH-12`,
    `:emoji:`) and autolinks bare `https://x`, `www.x` and `a@b.c`; escaping cannot stop what
    acts on the rendered text, so those pieces go in code spans (`@` alone, so that an address
    still reads as one) and `://` / `www.` are broken by escaping `:` and the dot. Controls and
    bidi overrides are shown as visible escapes. Identifiers read better as `md_code`.
    """
    return _MD_PROSE.sub(_prose_piece, one_line(text, limit))


def md_code(text: object, limit: int = 120, *, cell: bool = True) -> str:
    """Untrusted text as one inline code span: nothing in it is markup, link, mention or HTML.

    The fence is one backtick longer than the longest run inside, padded with a space when the
    text starts or ends with a backtick. In a table `cell`, `|` is written `\\|`: GFM splits cells
    before it parses code spans and shows `\\|` in a cell as `|` (elsewhere it would show the
    backslash). Empty text gives an empty string.
    """
    s = one_line(text, limit)
    if not s:
        return ""
    if cell:
        s = s.replace("|", "\\|")
    fence = "`" * (max((len(run) for run in re.findall("`+", s)), default=0) + 1)
    pad = " " if s.startswith("`") or s.endswith("`") else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def render_markdown(run: RunResults, *, baseline: RunResults | None = None) -> str:
    """summary.md for `run` (regressions against `baseline` on top), at most MAX_BYTES."""
    return render_summary(build_matrix(run, baseline=baseline))


def render_summary(m: Matrix, max_bytes: int = MAX_BYTES) -> str:
    lines = _lines(m)
    out: list[str] = []
    size = 0
    note_reserve = 200
    for i, line in enumerate(lines):
        n = len(line.encode("utf-8")) + 1
        if size + n > max_bytes - note_reserve:
            out.append("")
            out.append(
                f"_Summary cut at {max_bytes // 1000} KB ({len(lines) - i} more lines left out); "
                "matrix.html has everything._"
            )
            break
        out.append(line)
        size += n
    return "\n".join(out) + "\n"


def _lines(m: Matrix) -> list[str]:
    """The sections in order of urgency (a cut loses the least important): each a list of lines,
    empty when it has nothing to say."""
    sections = (_header, _regressions, _claimed_broken, _scores, _clients, _matrix, _failures, _known_gaps, _fixes)
    return [line for section in sections for line in section(m)]


def _header(m: Matrix) -> list[str]:
    h = m.header
    commit = f" @ {md(h['git_commit'])}" if h["git_commit"] else ""
    cost = f" · ~${h['cost']:.4f} ({md(h['cost_note'])})" if h["cost"] is not None else ""
    tokens = f"{h['tokens']:,}{' (est.)' if h['tokens_estimated'] else ''}"
    lines = [
        f"## OpenAI compatibility: {h['providers_evaluated']}/{h['providers']} providers evaluated, {h['checks']} checks",
        "",
        (
            f"Run {md(h['started_at'])} · {md(h['duration'])} · suite {md(h['suite_version'] or '?')}{commit} · "
            f"catalog v{md(h['catalog_version'] or '?')} · {tokens} tokens{cost}"
        ),
        "",
    ]
    if h["incomplete"]:
        lines += [f"> ⚠️ **Incomplete run.** {md(h['incomplete_reason'] or 'the run did not finish', 400)}", ""]
    if m.catalog_warning:
        lines += [f"> ‼️ **{md(m.catalog_warning, 400)}**", ""]
    return lines


def _regressions(m: Matrix) -> list[str]:
    if m.baseline is None:
        return []
    regressions = [c for c in m.changes if c.kind == REGRESSION]
    title = f"### ▼ Regressions since {md(m.baseline['started_at'])} ({len(regressions)})"
    if not regressions:
        return [title, "", "No regressions.", ""]
    return [
        title,
        "",
        "| level | check | provider / model | was | now | message |",
        "|---|---|---|---|---|---|",
        *(
            f"| {c.level.value} | {md(c.check)} | {_who(c.provider, c.model)} | {_status(c.old)} | "
            f"{_status(c.new)}{' (expected)' if c.expected else ''} | {md(c.message, 160)} |"
            for c in regressions
        ),
        "",
    ]


def _claimed_broken(m: Matrix) -> list[str]:
    broken = [c for c in m.claims if c.state == CLAIMED_BROKEN]
    if not broken:
        return []
    return [
        f"### 💥 Claimed but broken ({len(broken)})",
        "",
        "| provider / model | claim | failing checks |",
        "|---|---|---|",
        *(
            f"| {_who(c.provider, c.model)} | {md_code(c.key)} | "
            f"{md(', '.join(f'{cid} {st}' for cid, st in c.checks if st != 'pass'), 300)} |"
            for c in broken
        ),
        "",
    ]


def _scores(m: Matrix) -> list[str]:
    lines = [
        "### Scores",
        "",
        "| provider | must | should | may | failed | known gaps | claimed but broken | tokens | cost |",
        "|---|---|---|---|---|---|---|---|---|",
        *(_score_row(p) for p in m.providers),
        "",
    ]
    notes = [f"- 🔑 {md_code(p.name)}: {md(p.redaction_note, 200)}" for p in m.providers if p.redaction_note]
    return lines + (notes + [""] if notes else [])


def _score_row(p: ProviderView) -> str:
    if p.skipped:
        return f"| {md_code(p.name)} | not evaluated: {md(p.skipped, 120)} | | | | | | | |"
    s = p.scores
    cost = f"${p.cost:.4f}" if p.cost is not None else "—"
    return (
        f"| {md_code(p.name)} | {_score(s['must'])} | {_score(s['should'])} | {_score(s['may'])} | "
        f"{p.counts['fail'] + p.counts['error']} | {s['all'].expected} | {p.claimed_broken or ''} | "
        f"{p.tokens.total:,} | {cost} |"
    )


CLIENT_STEPS_SHOWN = 3  # breaking steps listed per library; the rest are counted
CLIENT_BREAKS_SHOWN = 30  # broken libraries listed in all (the matrix below must not be cut for them)


def _clients(m: Matrix) -> list[str]:
    """Provider x library (✓ works, ✗ breaks, – not installed or not run), then each breaking step
    with the library's own text, then the libraries that were not installed and how to install them."""
    cl = m.clients
    if not cl:
        return []
    legend = " · ".join(f"{CLIENT_STATES[k][0]} {CLIENT_STATES[k][1]}" for k in ("works", "breaks", "flaky", "error"))
    lines = [
        "### Will my stack work? Client libraries",
        "",
        f"Each provider's recorded answers replayed through each library (no extra requests). {legend} · "
        "– not installed or not run · 📌 known gap",
        "",
        "| provider | " + " | ".join(md(lib.label, 40) for lib in cl.libraries) + " |",
        "|---|" + "---|" * len(cl.libraries),
        *(f"| {_stack_row_name(row)} | " + " | ".join(_client_cell(v) for v in row.verdicts) + " |" for row in cl.rows),
        "",
    ]
    return lines + _client_breaks(cl) + _client_missing(cl)


def _stack_row_name(row: StackRow, *, cell: bool = True) -> str:
    return _who(row.provider, row.model if row.show_model else None, cell=cell)


def _client_cell(v: LibraryVerdict | None) -> str:
    if v is None:
        return "·"
    return v.symbol + (EXPECTED if v.expected else "")


def _client_breaks(cl: ClientImpact) -> list[str]:
    lines = []
    broken = [(row, v) for row in cl.rows for v in row.having("breaks", "flaky", "error")]
    for row, v in broken[:CLIENT_BREAKS_SHOWN]:
        title = md(cl.library(v.check).title, 80)
        head = f"- **{_stack_row_name(row, cell=False)}** · {title} {v.words}"
        if not v.steps:
            lines.append(f"{head}: {md(v.message, 240)}")
            continue
        lines.append(f"{head}:")
        lines += [f"  - {_client_step(s)}" for s in v.steps[:CLIENT_STEPS_SHOWN]]
        if len(v.steps) > CLIENT_STEPS_SHOWN:
            lines.append(f"  - … and {len(v.steps) - CLIENT_STEPS_SHOWN} more steps (matrix.html has them)")
    if len(broken) > CLIENT_BREAKS_SHOWN:
        lines.append(f"- … and {len(broken) - CLIENT_BREAKS_SHOWN} more broken libraries (matrix.html has them)")
    return ["**Breaking steps**", "", *lines, ""] if lines else []


def _client_step(s: BreakingStep) -> str:
    what = "raised" if s.raised else "returned something other than the wire holds"
    where = f" (exchange {s.exchange + 1} of its evidence in matrix.html)" if s.exchange is not None else ""
    return (f"on the {md_code(s.probe, 80, cell=False)} response ({md_code(s.call, 120, cell=False)}) {what}: "
            f"{md(s.detail, 240)}{where}")


def _client_missing(cl: ClientImpact) -> list[str]:
    missing = cl.not_installed()
    if not missing:
        return []
    listed = ", ".join(f"{md(lib.title, 80)} ({md_code(command, cell=False) if command else 'not installed'})"
                       for lib, command in missing)
    return [f"Not verified (not installed here): {listed}.", ""]


def _matrix(m: Matrix) -> list[str]:
    per_provider = {c.provider: sum(1 for x in m.columns if x.provider == c.provider) for c in m.columns}
    names = [md_code(c.provider) + (f" ({md_code(c.label, 40)})" if per_provider[c.provider] > 1 else "")
             for c in m.columns]
    lines = ["### Matrix", "", LEGEND, ""]
    lines += ["| check | level | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for area in m.areas:
        summary = " | ".join(s.text + (f" ✗{s.must_bad}" if s.must_bad else "") for s in area.summary)
        lines.append(f"| **{md(area.name)}** | | {summary} |")
        lines += [f"| {md(row.check)} | {row.level} | " + " | ".join(_cell(c) for c in row.cells) + " |"
                  for row in area.rows]
    return lines + [""]


def _failures(m: Matrix) -> list[str]:
    failures = [
        (row, cell, m.evidence[cell.evidence])
        for row in m.rows
        for cell in row.cells
        if cell.evidence is not None and cell.state in ("fail", "flaky", "error") and not cell.expected
    ]
    if not failures:
        return []
    failures.sort(key=lambda x: ({"must": 0, "should": 1}.get(x[0].level, 2), x[0].order))
    return [
        f"### Failures ({len(failures)})",
        "",
        *(
            f"- **{_who(ev['provider'], ev['model'], cell=False)}** {md(row.check)} ({row.level}, {cell.state}): "
            f"{md(ev['message'], 240)}"
            for row, cell, ev in failures
        ),
        "",
    ]


def _known_gaps(m: Matrix) -> list[str]:
    gaps = [(row, m.evidence[cell.evidence]) for row in m.rows for cell in row.cells
            if cell.evidence is not None and cell.expected]
    if not gaps:
        return []
    lines = [f"### 📌 Known gaps ({len(gaps)})", ""]
    for row, ev in gaps:
        exp = ev["expected"]
        link = f" ({md_code(exp['link'], 200, cell=False)})" if exp["link"] else ""
        reason = md(exp["reason"] or "no reason given", 200)
        who = _who(ev["provider"], ev["model"], cell=False)
        lines.append(f"- **{who}** {md(row.check)}: {exp['status']} — {reason}{link}")
    return lines + [""]


def _fixes(m: Matrix) -> list[str]:
    fixes = [c for c in m.changes if c.kind == FIX]
    if not fixes:
        return []
    return [
        f"### ▲ Fixes ({len(fixes)})",
        "",
        *(
            f"- {md(c.check)} · {_who(c.provider, c.model, cell=False)}: {_status(c.old)} → {_status(c.new)}"
            for c in fixes
        ),
        "",
    ]


def _cell(c: Cell) -> str:
    mark = EXPECTED if c.expected else SYMBOLS.get(c.state, c.state)
    if c.change == "regression":
        mark += "▼"
    elif c.change == "fix":
        mark += "▲"
    if c.claimed and c.state in BROKEN:
        mark += "💥"
    return mark


def _who(provider: str, model: str | None, *, cell: bool = True) -> str:
    return md_code(provider, cell=cell) + (f" / {md_code(model, cell=cell)}" if model else "")


def _status(status: Status | None) -> str:
    return f"{SYMBOLS.get(status.value, '')} {status.value}" if status else "absent"


def _score(s: Score) -> str:
    return f"{s.percent} ({s.passed}/{s.evaluated})" if s.evaluated else "—"
