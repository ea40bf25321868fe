"""One pytest run's state (kept in config.stash by the plugin): the providers, the options, the
plan, the sessions, the batches and the part-file writer, built from the command line once.

What lives here: `RunState` and `state_from_config` (reading and checking the conformance options).
What does not: pytest hooks (plugin.py), running batches (runner.py), writing results.json (finish.py).
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.catalog import load_catalog
from conformance.checks import Session
from conformance.checks.property import DEFAULT_EXAMPLES as DEFAULT_HYPOTHESIS_EXAMPLES
from conformance.checks.property import DEFAULT_SEED as DEFAULT_HYPOTHESIS_SEED
from conformance.distribution import read_owned
from conformance.plan import RunPlan
from conformance.progress import Progress
from conformance.providers import ConfigError, Provider, ProvidersFile, load_providers
from conformance.results import CheckResult, JsonLinesWriter, check_out_dir, read_json_lines
from conformance.runner import Case, ConcurrentBatches, provider_skip_reason



@dataclass
class RunState:
    """Everything the plugin keeps for one pytest run (in config.stash)."""

    providers: ProvidersFile
    out_dir: Path
    only: set[str] | None
    areas: set[str] | None
    checks: set[str] | None
    started: float = field(default_factory=time.time)
    endpoints: dict[str, dict[str, str]] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    skip_reasons: dict[str, str | None] = field(default_factory=dict)
    writer: JsonLinesWriter | None = None
    record_lock: threading.Lock = field(default_factory=threading.Lock)
    stack: ExitStack = field(default_factory=ExitStack)
    write_outputs: bool = True
    repeat: int = 1
    options: dict[str, Any] = field(default_factory=dict)
    worker: str | None = None  # the xdist worker id; None on the controller or without xdist
    plan: RunPlan | None = None
    batches: ConcurrentBatches | None = None
    progress: Progress | None = None
    dist_note: str | None = None
    final: RunResults | None = None

    def provider(self, name: str) -> Provider:
        p = self.providers.get(name)
        ep = self.endpoints.get(name)
        return p.with_endpoint(ep["base_url"], ep["api_key"]) if ep else p

    def session(self, name: str) -> Session:
        if name not in self.sessions:
            self.sessions[name] = Session(self.provider(name), options=self.options)
        return self.sessions[name]

    def skip_reason(self, name: str) -> str | None:
        if name not in self.skip_reasons:
            provider = self.provider(name)
            if provider.builtin and name not in self.endpoints:
                self.skip_reasons[name] = f"built-in {provider.builtin} server was not started"
            else:
                self.skip_reasons[name] = provider_skip_reason(provider)
        return self.skip_reasons[name]

    def open_session(self, name: str) -> tuple[Session, str | None]:
        """The provider's session and why it is skipped (may probe the network: called in its batch thread)."""
        return self.session(name), self.skip_reason(name)

    def selected(self) -> list[Provider]:
        return [p for p in self.providers.providers if self.only is None or p.name in self.only]

    def owned(self, provider: str) -> tuple[str, ...]:
        """The providers this process runs, `provider` among them: every one in the plan, or on an
        xdist worker the share the scheduler gave it (or just `provider` if no share was written)."""
        planned = self.plan.providers if self.plan is not None else ()
        if self.worker is None:
            return tuple(dict.fromkeys((*planned, provider)))
        share = read_owned(self.out_dir, self.worker) or ()
        return tuple(dict.fromkeys((*(p for p in share if p in planned), provider)))

    def recorded(self, provider: str) -> dict[str, CheckResult]:
        """Verdicts this run already recorded for `provider` (by a worker that died), by case id."""
        if self.worker is None:
            return {}
        ids = {(c.provider, c.model.name if c.model else None, c.spec.id): c.id for c in self.cases(provider)}
        parts = sorted((self.out_dir / "parts").glob("results-*.jsonl"))
        return {ids[key]: r for r in read_json_lines(parts) if (key := (r.provider, r.model, r.check)) in ids}

    def cases(self, provider: str) -> tuple[Case, ...]:
        return self.plan.cases(provider) if self.plan is not None else ()



def state_from_config(config: pytest.Config) -> RunState:
    """The run's state from the command line and ini; a usage error for anything wrong in them."""
    path = config.getoption("providers") or config.getini("conformance_providers")
    try:
        providers = load_providers(path)
    except ConfigError as exc:
        raise pytest.UsageError(str(exc)) from None
    out = Path(config.getoption("conformance_out") or config.getini("conformance_out"))
    problem = check_out_dir(out)
    if problem:
        raise pytest.UsageError(f"--conformance-out: {problem}")
    worker = getattr(config, "workerinput", None)
    state = RunState(
        providers=providers,
        out_dir=out,
        only=_split(config.getoption("only")),
        areas=_split(config.getoption("area")),
        checks=_split(config.getoption("check")),
        write_outputs=not config.getoption("no_reports"),
        repeat=max(1, config.getoption("repeat")),
        options={
            "hypothesis_examples": config.getoption("hypothesis_examples"),
            # hypothesis' own pytest plugin owns --hypothesis-seed; we honour it, with a fixed default
            "hypothesis_seed": int(config.getoption("hypothesis_seed", None) or DEFAULT_HYPOTHESIS_SEED),
        },
        worker=worker["workerid"] if worker is not None else None,
    )
    _check_selection(state, path)
    if worker is not None:
        state.endpoints = json.loads(worker["conformance_endpoints"])
        state.started = float(worker["conformance_started"])
    return state


def _check_selection(state: RunState, path: str) -> None:
    if state.only:
        unknown = state.only - {p.name for p in state.providers.providers}
        if unknown:
            raise pytest.UsageError(f"--only: no provider named {sorted(unknown)} in {path}")
    if state.checks:
        unknown = state.checks - set(load_catalog().ids)
        if unknown:
            raise pytest.UsageError(f"--check: unknown check ids {sorted(unknown)} (see `conformance list-checks`)")


def _split(value: str | None) -> set[str] | None:
    return {v.strip() for v in value.split(",") if v.strip()} if value else None
