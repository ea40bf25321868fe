"""The client-impact view, "will my stack work?": per provider, which client libraries break, where.

What lives here: reading the client checks' records (area `client`: the official SDKs and every
library of conformance/clients/libraries.yaml) into plain frozen data: per provider (and model,
when a provider has several) one verdict per library, each breaking step with its probe, the
library call, the library's own exception or mismatch text and the exchange that caused it.
What does not: running anything (checks/client_libs.py), markup (templates/, markdown.py), or
adopt/reject (gate.py reads `clients:` itself).

Pure functions over RunResults: everything comes from the records' status, message, notes and
evidence. A failing client check says "<library> raised on the <probe> response (<call>): <text>"
or "<library> on the <probe> response (<call>): <mismatch>" (checks/sdk_replay.py), with the further
failing steps as "also: ..." notes; a skipped one says "<library> is not installed: run `<command>`"
(the command shown is composed from libraries.yaml, not copied from the message).
The probe's exchange is found among the record's evidence by rebuilding the probe's request
(conformance/probes.py) and comparing it without the model and the token cap.

The message after the step prefix is the library's text about a provider's answer, so it is
hostile: it is bounded here, control and bidi characters are shown as escapes, and renderers
escape it for their sink.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from conformance import client_envs, client_impact
from conformance.report.scores import bounded, worst
from conformance.results import CheckResult, ExchangeRecord, RunResults, Status
from conformance.textsafe import strip_controls

CLIENT_AREA = "client"
DETAIL = 600  # characters of one library's exception or mismatch text
MESSAGE = 300  # characters of a verdict's message (errors, skip reasons)
MAX_STEPS = 10  # the failure and up to nine "also:" notes, as the check records them
# How a verdict reads: symbol, words, and the matrix's status class it borrows the colours of.
STATES: dict[str, tuple[str, str, str]] = {
    "works": ("✓", "works", "pass"),
    "breaks": ("✗", "breaks", "fail"),
    "flaky": ("≈", "flaky", "flaky"),
    "error": ("!", "no verdict", "error"),
    "not_installed": ("–", "not installed", "skipped"),
    "skipped": ("–", "not run", "skipped"),
    "absent": ("·", "no result", "absent"),
}
_BY_STATUS = {Status.PASS: "works", Status.FAIL: "breaks", Status.FLAKY: "flaky", Status.ERROR: "error",
              Status.UNSUPPORTED: "error", Status.SKIPPED: "skipped"}
_STEP = r" (?P<raised>raised )?on the (?P<probe>[A-Za-z0-9_.-]{1,80}) response \((?P<call>.{1,200}?)\): (?P<detail>.*)\Z"
_MORE_CALLS = re.compile(r" \(\+\d+ more calls failed, see notes\)\Z")
_ALSO = "also: "
_NOT_COMPARED = frozenset({"model", "max_tokens", "max_completion_tokens", "max_output_tokens"})


@dataclass(frozen=True)
class ClientLibrary:
    """One column: a client check and how it is named."""

    check: str  # client.langchain
    name: str  # langchain: the name `conformance clients install` and gate policies take
    title: str  # LangChain (langchain-openai)

    @property
    def label(self) -> str:
        """The title without its parenthesis, for narrow table headers."""
        return self.title.split(" (", 1)[0] or self.name


@dataclass(frozen=True)
class BreakingStep:
    """One replayed call that went wrong: which response, which call, what the library said."""

    probe: str  # the probe whose recorded response was replayed (tools_auto)
    call: str  # the library call, as the library spells it (ChatOpenAI.invoke)
    raised: bool  # True: the library raised; False: it returned something other than the wire holds
    detail: str  # the library's exception or mismatch text: bounded, controls escaped, never markup
    exchange: int | None  # position of the probe's exchange in the record's evidence; None if not kept

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LibraryVerdict:
    """How one library fared on one provider (and model)."""

    check: str
    state: str  # a key of STATES
    status: str  # the record's Status value
    message: str  # bounded; for a failure, the first step's line
    steps: tuple[BreakingStep, ...] = ()
    install: str | None = None  # the command that installs a library found not installed
    expected: bool = False  # the status is an `expect:` entry of the provider (a known gap)
    evidence: int | None = None  # index of the record's evidence in the matrix payload

    @property
    def symbol(self) -> str:
        return STATES[self.state][0]

    @property
    def words(self) -> str:
        return STATES[self.state][1] + (" (known gap)" if self.expected else "")

    @property
    def status_class(self) -> str:
        return STATES[self.state][2]

    def to_dict(self) -> dict[str, Any]:
        return {"check": self.check, "state": self.state, "status": self.status, "message": self.message,
                "steps": [s.to_dict() for s in self.steps], "install": self.install, "expected": self.expected,
                "evidence": self.evidence}


@dataclass(frozen=True)
class StackRow:
    """One provider (and model, when the provider replayed several): a verdict per library column."""

    provider: str
    model: str | None
    verdicts: tuple[LibraryVerdict | None, ...]  # aligned with ClientImpact.libraries; None: no result
    show_model: bool = False  # the provider has several rows, one per model

    def having(self, *states: str) -> list[LibraryVerdict]:
        return [v for v in self.verdicts if v is not None and v.state in states]

    def to_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "show_model": self.show_model,
                "verdicts": [v.to_dict() if v is not None else None for v in self.verdicts]}


@dataclass(frozen=True)
class ClientImpact:
    """The whole view: library columns and one row per provider (or provider and model)."""

    libraries: tuple[ClientLibrary, ...] = ()
    rows: tuple[StackRow, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.rows)

    def library(self, check: str) -> ClientLibrary:
        return next(lib for lib in self.libraries if lib.check == check)

    def row(self, provider: str, model: str | None = None) -> StackRow:
        """The row of a provider (its first, or the one of `model`), for tests and renderers."""
        return next(r for r in self.rows if r.provider == provider and (model is None or r.model == model))

    def not_installed(self) -> list[tuple[ClientLibrary, str | None]]:
        """Libraries found not installed anywhere in the run, each once, with the command to install it."""
        out: dict[str, tuple[ClientLibrary, str | None]] = {}
        for row in self.rows:
            for lib, v in zip(self.libraries, row.verdicts):
                if v is not None and v.state == "not_installed":
                    out.setdefault(lib.check, (lib, v.install))
        return list(out.values())

    def to_dict(self) -> dict[str, Any]:
        libraries = [{"check": lib.check, "name": lib.name, "title": lib.title, "label": lib.label}
                     for lib in self.libraries]
        return {"libraries": libraries, "rows": [r.to_dict() for r in self.rows]}


def build_client_impact(run: RunResults, evidence_index: Mapping[tuple[str, str | None, str], int] | None = None
                        ) -> ClientImpact:
    """The client-impact view of `run`; `evidence_index` (the matrix's result key -> evidence index)
    lets each verdict point at the evidence the matrix already renders."""
    results = [r for r in run.results if r.area == CLIENT_AREA]
    if not results:
        return ClientImpact()
    libraries = _libraries(run, results)
    columns = {lib.check: i for i, lib in enumerate(libraries)}
    titles = {lib.check: lib.title for lib in libraries}
    groups: dict[tuple[str, str | None], list[list[CheckResult]]] = {}
    for r in results:
        slots = groups.setdefault((r.provider, r.model), [[] for _ in libraries])
        slots[columns[r.check]].append(r)
    index = evidence_index or {}
    keys = _row_keys(run, groups)
    rows = []
    for provider, model in keys:
        cells = []
        for slot in groups[(provider, model)]:
            r = worst(slot)
            cells.append(library_verdict(r, titles.get(r.check), index.get(r.key)) if r is not None else None)
        several = sum(1 for p, _ in keys if p == provider) > 1
        rows.append(StackRow(provider, model, tuple(cells), several))
    return ClientImpact(tuple(libraries), tuple(rows))


def _libraries(run: RunResults, results: list[CheckResult]) -> list[ClientLibrary]:
    """The columns: the suite's client checks in their order, then any other client check the run has."""
    ran = {r.check for r in results}
    known = client_impact.titles()
    order = [*client_impact.client_checks(), *(c for c in run.catalog if c in ran), *(r.check for r in results)]
    return [ClientLibrary(c, c.removeprefix(f"{CLIENT_AREA}."), known.get(c) or c.removeprefix(f"{CLIENT_AREA}."))
            for c in dict.fromkeys(order) if c in ran]


def _row_keys(run: RunResults, groups: Mapping[tuple[str, str | None], Any]) -> list[tuple[str, str | None]]:
    """Rows in the run's provider order; a provider's models in the order they came."""
    providers = list(dict.fromkeys([*(p.name for p in run.providers), *(p for p, _ in groups)]))
    return [key for name in providers for key in groups if key[0] == name]


def library_verdict(r: CheckResult, title: str | None = None, evidence: int | None = None) -> LibraryVerdict:
    """One client check's record read as a verdict (its steps parsed from the message and notes)."""
    state = _BY_STATUS.get(r.status, "error")
    install = None
    if state == "skipped" and "is not installed" in r.message:
        state = "not_installed"
        install = install_commands().get(r.check)
    steps: tuple[BreakingStep, ...] = ()
    if state in ("breaks", "flaky"):
        lines = [_MORE_CALLS.sub("", r.message), *(n[len(_ALSO):] for n in r.evidence.notes if n.startswith(_ALSO))]
        parsed = (parse_step(line, title) for line in lines[:MAX_STEPS])
        steps = tuple(_located(s, r) for s in parsed if s is not None)
    return LibraryVerdict(
        check=r.check,
        state=state,
        status=r.status.value,
        message=_safe(r.message, MESSAGE),
        steps=steps,
        install=install,
        expected=r.as_expected and r.status is not Status.PASS,
        evidence=evidence,
    )


@functools.cache
def install_commands() -> dict[str, str]:
    """Client check -> the command that installs its library (libraries.yaml). Composed here, never
    read from a message: a results.json may come from anywhere."""
    return {spec.check: spec.install_command for spec in client_envs.libraries()}


def parse_step(line: str, title: str | None = None) -> BreakingStep | None:
    """A step from one failure line ("<title> raised on the <probe> response (<call>): <text>"), or
    None when the line is not one. With the library's `title` the prefix is matched exactly, so text
    the library quoted cannot pose as the step."""
    found = None
    if title:
        found = re.match(re.escape(title) + _STEP, line, re.S)
    if found is None:
        found = re.match(r"(?P<library>.{1,200}?)" + _STEP, line, re.S)
    if found is None:
        return None
    return BreakingStep(
        probe=found.group("probe"),
        call=_safe(found.group("call"), 200),
        raised=bool(found.group("raised")),
        detail=_safe(found.group("detail"), DETAIL),
        exchange=None,
    )


def _located(step: BreakingStep, r: CheckResult) -> BreakingStep:
    return BreakingStep(step.probe, step.call, step.raised, step.detail, exchange_of(step.probe, r.evidence.exchanges))


def exchange_of(probe: str, exchanges: tuple[ExchangeRecord, ...]) -> int | None:
    """Which of the recorded exchanges is `probe`'s: the first whose request is the probe's own
    (same method, path and body but for the model and the token cap). None when none is."""
    wanted = _probe_request(probe)
    if wanted is None:
        return None
    method, path, body = wanted
    for i, x in enumerate(exchanges):
        if (x.request.method == method and urlsplit(x.request.url).path.endswith(path)
                and _comparable(x.request.body) == body):
            return i
    return None


@functools.cache
def _probe_request(probe: str) -> tuple[str, str, Any] | None:
    """(method, path, comparable body) of a probe's request, or None for a name the suite lacks."""
    from conformance.probes import PROBES
    from conformance.providers import ModelConfig

    builder = PROBES.get(probe)
    if builder is None:
        return None
    request = builder(ModelConfig(name="", token_cap=0, cap_param="max_tokens"))
    return request.method, request.path, _comparable(request.json)


def _comparable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: v for k, v in body.items() if k not in _NOT_COMPARED}
    return body


def _safe(text: str, limit: int) -> str:
    """Provider-derived text bounded and with control and bidi characters shown as escapes."""
    return strip_controls(bounded(text, limit))
