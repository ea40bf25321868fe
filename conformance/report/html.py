"""The matrix view model -> one self-contained matrix.html (jinja2, autoescape on).

What lives here: the jinja2 environment, the page's Content-Security-Policy, and the size guard
on embedded evidence. What does not: layout decisions (matrix.py) or markup (templates/).

The page has no external resource: CSS and JS are inlined from templates/matrix.css and
templates/matrix.js, evidence is JSON in a `<script type="application/json">` block escaped by
`script_json`, and the CSP admits only our own script (by its sha256) and no network, so an
injection that slipped past escaping still could not run or phone home.
"""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable

import importlib.resources

import jinja2
from markupsafe import Markup

import conformance
from conformance.report.claims import Claim
from conformance.report.clients import STATES as CLIENT_STATES
from conformance.report.history import HistoryEntry
from conformance.report.matrix import UNSTABLE_FLIPS, Matrix, build_matrix, script_json
from conformance.results import RunResults

TEMPLATES = importlib.resources.files("conformance.report") / "templates"  # shipped in the wheel
# Above this much embedded evidence, passing cells lose their exchanges (failures keep theirs).
MAX_EVIDENCE_CHARS = 24_000_000
CLAIM_SYMBOLS = {
    "claimed_works": "✓",
    "claimed_broken": "✗",
    "unclaimed_works": "+",
    "unclaimed_absent": "–",
    "untested": "?",
}


@functools.cache
def _env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.report", "templates"),
        autoescape=True,  # always: the template name ends in .j2, which select_autoescape would miss
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


@functools.cache
def _asset(name: str) -> str:
    text = (TEMPLATES / name).read_text(encoding="utf-8")
    if "</" + "script" in text.lower() or "</" + "style" in text.lower():
        raise ValueError(f"{name} must not contain a closing script/style tag")
    return text


def _csp(script: str) -> str:
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return (
        "default-src 'none'; "
        f"script-src 'sha256-{digest}'; "
        "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
    )


def render_html(run: RunResults, *, history: Iterable[HistoryEntry] = (), baseline: RunResults | None = None) -> str:
    """matrix.html for `run` as a string: trend strips from `history`, changed cells against `baseline`."""
    return render_matrix(build_matrix(run, history=history, baseline=baseline))


def render_matrix(matrix: Matrix) -> str:
    js = _asset("matrix.js")
    index = {p.name: i for i, p in enumerate(matrix.providers)}
    claim_keys, claim_rows = _claim_table(matrix.claims)
    return (
        _env()
        .get_template("matrix.html.j2")
        .render(
            m=matrix,
            h=matrix.header,
            css=Markup(_asset("matrix.css")),
            js=Markup(js),
            csp=_csp(js),
            page_json=Markup(_page_json(matrix, MAX_EVIDENCE_CHARS)),
            col_p=[index[c.provider] for c in matrix.columns],  # column -> provider index (data-p)
            claim_keys=claim_keys,
            claim_rows=claim_rows,
            claim_symbols=CLAIM_SYMBOLS,
            client_states=CLIENT_STATES,
            unstable_flips=UNSTABLE_FLIPS,
            suite_version=matrix.header.get("suite_version") or conformance.__version__,
        )
    )


def _claim_table(claims: Iterable[Claim]) -> tuple[list[str], list[tuple[tuple[str, str], dict[str, Claim]]]]:
    keys: dict[str, None] = {}
    rows: dict[tuple[str, str], dict[str, Claim]] = {}
    for c in claims:
        keys.setdefault(c.key)
        rows.setdefault((c.provider, c.model), {})[c.key] = c
    return list(keys), list(rows.items())


def _page_json(matrix: Matrix, limit: int) -> str:
    """What the page script reads, as script-safe JSON: each row's check description once, each
    cell's evidence, and the client-impact view. Past `limit` characters, passing cells lose their
    exchanges."""
    checks = {r.check: {"title": r.title, "spec": r.spec, "rationale": r.rationale} for r in matrix.rows}
    clients = matrix.clients.to_dict()
    text = script_json({"checks": checks, "cells": list(matrix.evidence), "clients": clients})
    if len(text) <= limit:
        return text
    trimmed = []
    for e in matrix.evidence:
        if e.get("status") == "pass" and e.get("exchanges"):
            e = {**e, "exchanges": [], "exchanges_omitted": len(e["exchanges"]) + e.get("exchanges_omitted", 0)}
            e["notes"] = [*e.get("notes", []), "exchanges of passing checks were left out to keep the report small"]
        trimmed.append(e)
    return script_json({"checks": checks, "cells": trimmed, "clients": clients})
