"""Comparing two runs: regressions, fixes, other status changes, checks and providers that came or went.

What lives here: `diff_runs(old, new) -> RunDiff`, the one definition of "regression" and "fix"
(`classify`, also used by the matrix to highlight changed cells), and RunDiff's text/JSON forms.
What does not: rendering the matrix (matrix.py) or gating adoption (gate.py).

Definitions (per provider x model x check present in both runs):
  regression  pass -> fail | flaky | error | unsupported, or unsupported -> fail (a clean refusal became a break)
  fix         fail | flaky | error | unsupported -> pass
  changed     any other status change (e.g. fail -> error, pass -> skipped)
A regression to a status declared in `expect:` is still listed, marked expected, and does not
count for `has_must_regression` (someone already wrote it down).

Runs made with different catalog versions are compared anyway (a nightly job should still see
something) but never silently: the text starts with a banner and `to_dict()` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance.report.scores import bounded, by_provider, level_scores
from conformance.results import CheckResult, Level, RunResults, Status

REGRESSION, FIX, CHANGED, ADDED, REMOVED = "regression", "fix", "changed", "added", "removed"
_BAD = frozenset({Status.FAIL, Status.FLAKY, Status.ERROR, Status.UNSUPPORTED})
_LEVEL_ORDER = {Level.MUST: 0, Level.SHOULD: 1, Level.MAY: 2}

Key = tuple[str, str | None, str]


def classify(old: Status | None, new: Status | None) -> str | None:
    """The kind of change from `old` to `new` status (None = absent from that run), or None if equal."""
    if old == new:
        return None
    if old is None:
        return ADDED
    if new is None:
        return REMOVED
    if (old is Status.PASS and new in _BAD) or (old is Status.UNSUPPORTED and new is Status.FAIL):
        return REGRESSION
    if old in _BAD and new is Status.PASS:
        return FIX
    return CHANGED


@dataclass(frozen=True)
class Change:
    """One provider x model x check whose status differs between the runs."""

    provider: str
    model: str | None
    check: str
    area: str
    level: Level
    kind: str  # regression | fix | changed | added | removed
    old: Status | None
    new: Status | None
    expected: bool = False
    message: str = ""

    @property
    def key(self) -> Key:
        return (self.provider, self.model, self.check)

    def label(self) -> str:
        where = f"{self.provider}/{self.model}" if self.model else self.provider
        old = self.old.value if self.old else "absent"
        new = self.new.value if self.new else "absent"
        tail = " (expected)" if self.expected else ""
        return f"{self.level.value:6} {self.check:32} {where}: {old} -> {new}{tail}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "check": self.check,
            "area": self.area,
            "level": self.level.value,
            "kind": self.kind,
            "old": self.old.value if self.old else None,
            "new": self.new.value if self.new else None,
            "expected": self.expected,
            "message": self.message,
        }


@dataclass(frozen=True)
class RunDiff:
    old_run: dict[str, Any]
    new_run: dict[str, Any]
    catalog_mismatch: str | None  # the loud explanation, or None when the catalogs agree
    regressions: tuple[Change, ...] = ()
    fixes: tuple[Change, ...] = ()
    changes: tuple[Change, ...] = ()  # other status changes
    added: tuple[Change, ...] = ()  # results only in the new run
    removed: tuple[Change, ...] = ()  # results only in the old run
    new_checks: tuple[str, ...] = ()
    removed_checks: tuple[str, ...] = ()
    level_changes: tuple[tuple[str, str, str], ...] = ()  # (check, old level, new level)
    new_providers: tuple[str, ...] = ()
    removed_providers: tuple[str, ...] = ()
    scores: dict[str, dict[str, tuple[float | None, float | None]]] = field(default_factory=dict)

    @property
    def has_must_regression(self) -> bool:
        return any(c.level is Level.MUST and not c.expected for c in self.regressions)

    @property
    def is_empty(self) -> bool:
        return not (
            self.regressions
            or self.fixes
            or self.changes
            or self.added
            or self.removed
            or self.new_providers
            or self.removed_providers
            or self.catalog_mismatch
        )

    def by_key(self) -> dict[Key, Change]:
        out: dict[Key, Change] = {}
        for group in (self.removed, self.added, self.changes, self.fixes, self.regressions):
            out.update((c.key, c) for c in group)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "old_run": self.old_run,
            "new_run": self.new_run,
            "catalog_versions_differ": self.catalog_mismatch is not None,
            "catalog_mismatch": self.catalog_mismatch,
            "has_must_regression": self.has_must_regression,
            "regressions": [c.to_dict() for c in self.regressions],
            "fixes": [c.to_dict() for c in self.fixes],
            "changes": [c.to_dict() for c in self.changes],
            "added": [c.to_dict() for c in self.added],
            "removed": [c.to_dict() for c in self.removed],
            "new_checks": list(self.new_checks),
            "removed_checks": list(self.removed_checks),
            "level_changes": [{"check": c, "old": o, "new": n} for c, o, n in self.level_changes],
            "new_providers": list(self.new_providers),
            "removed_providers": list(self.removed_providers),
            "scores": {p: {lvl: {"old": o, "new": n} for lvl, (o, n) in s.items()} for p, s in self.scores.items()},
        }

    def to_text(self) -> str:
        lines: list[str] = []
        if self.catalog_mismatch:
            bar = "!" * 78
            lines += [bar, "!! " + self.catalog_mismatch, bar, ""]
        lines.append(f"old: {_describe(self.old_run)}\nnew: {_describe(self.new_run)}")
        lines.append(
            f"{len(self.regressions)} regression(s), {len(self.fixes)} fix(es), "
            f"{len(self.changes)} other change(s), {len(self.added)} new result(s), {len(self.removed)} removed"
            + ("; MUST REGRESSION" if self.has_must_regression else "")
        )
        for title, group in (
            ("Regressions", self.regressions),
            ("Fixes", self.fixes),
            ("Other status changes", self.changes),
        ):
            if group:
                lines += ["", f"{title}:"] + [f"  {c.label()}" for c in group]
        for title, names in (
            ("New providers", self.new_providers),
            ("Removed providers", self.removed_providers),
            ("New checks", self.new_checks),
            ("Removed checks", self.removed_checks),
        ):
            if names:
                lines += ["", f"{title}: {', '.join(names)}"]
        if self.level_changes:
            lines += ["", "Checks whose level changed:"] + [f"  {c}: {o} -> {n}" for c, o, n in self.level_changes]
        moved = {p: s for p, s in self.scores.items() if any(o != n for o, n in s.values())}
        if moved:
            lines += ["", "Score changes (share passed, old -> new):"]
            for p, s in moved.items():
                parts = [f"{lvl} {_pct(o)} -> {_pct(n)}" for lvl, (o, n) in s.items() if o != n]
                lines.append(f"  {p}: " + "; ".join(parts))
        if self.is_empty:
            lines += ["", "No differences."]
        return "\n".join(lines) + "\n"


def diff_runs(old: RunResults, new: RunResults) -> RunDiff:
    """Everything that changed from `old` to `new`; see the module docstring for the definitions."""
    groups = _changes(old, new)
    old_providers, new_providers = list(by_provider(old)), list(by_provider(new))
    return RunDiff(
        old_run=_meta(old),
        new_run=_meta(new),
        catalog_mismatch=_catalog_mismatch(old, new),
        regressions=groups[REGRESSION],
        fixes=groups[FIX],
        changes=groups[CHANGED],
        added=groups[ADDED],
        removed=groups[REMOVED],
        new_checks=tuple(c for c in new.catalog if c not in old.catalog),
        removed_checks=tuple(c for c in old.catalog if c not in new.catalog),
        level_changes=_level_changes(old, new),
        new_providers=tuple(p for p in new_providers if p not in old_providers),
        removed_providers=tuple(p for p in old_providers if p not in new_providers),
        scores=_score_changes(old, new),
    )


def _changes(old: RunResults, new: RunResults) -> dict[str, tuple[Change, ...]]:
    """The changed results by kind, each kind ordered musts first."""
    old_by = {r.key: r for r in old.results}
    new_by = {r.key: r for r in new.results}
    groups: dict[str, list[Change]] = {REGRESSION: [], FIX: [], CHANGED: [], ADDED: [], REMOVED: []}
    for key in list(old_by) + [k for k in new_by if k not in old_by]:
        change = _change(old_by.get(key), new_by.get(key))
        if change is not None:
            groups[change.kind].append(change)
    return {kind: tuple(sorted(changes, key=_change_order)) for kind, changes in groups.items()}


def _change_order(c: Change) -> tuple[int, bool, str, str, str]:
    """Musts first; within a level the unexpected before the expected, then by check and provider."""
    return (_LEVEL_ORDER[c.level], c.expected, c.check, c.provider, c.model or "")


def _change(o: CheckResult | None, n: CheckResult | None) -> Change | None:
    """How one provider x model x check changed (`o` or `n` None: absent from that run), or None."""
    kind = classify(o.status if o else None, n.status if n else None)
    ref = n or o
    if kind is None or ref is None:
        return None
    return Change(
        ref.provider, ref.model, ref.check, ref.area, ref.level, kind,  # which result, and how it changed
        old=o.status if o else None,
        new=n.status if n else None,
        expected=bool(n and n.as_expected),
        message=bounded(n.message, 300) if n else "",
    )


def _level_changes(old: RunResults, new: RunResults) -> tuple[tuple[str, str, str], ...]:
    """(check, old level, new level) for the checks both catalogs have at different levels."""
    both = [c for c in new.catalog if c in old.catalog]
    pairs = ((c, old.catalog[c].level.value, new.catalog[c].level.value) for c in both)
    return tuple((c, o, n) for c, o, n in pairs if o != n)


def _score_changes(old: RunResults, new: RunResults) -> dict[str, dict[str, tuple[float | None, float | None]]]:
    """Per provider in both runs: level -> (old share passed, new share passed)."""
    old_scores = {p: level_scores(rs) for p, rs in by_provider(old).items()}
    new_scores = {p: level_scores(rs) for p, rs in by_provider(new).items()}
    return {
        p: {lvl: (old_scores[p][lvl].share, scores[lvl].share) for lvl in ("must", "should", "may")}
        for p, scores in new_scores.items()
        if p in old_scores
    }


def _catalog_mismatch(old: RunResults, new: RunResults) -> str | None:
    ov, nv = old.run.catalog_version, new.run.catalog_version
    if ov != nv:
        return (
            f"CATALOG VERSIONS DIFFER: old run used catalog {ov or '?'}, new run catalog {nv or '?'}. "
            "Check ids, levels and meanings may have changed; this comparison may be misleading."
        )
    differing = sorted(
        c
        for c in set(old.catalog) & set(new.catalog)
        if (old.catalog[c].level, old.catalog[c].kind) != (new.catalog[c].level, new.catalog[c].kind)
    )
    if set(old.catalog) != set(new.catalog) or differing:
        return (
            f"CATALOG CONTENT DIFFERS under the same version {nv or '?'}: "
            "the checks or their levels changed without a version bump; this comparison may be misleading."
        )
    return None


def _meta(run: RunResults) -> dict[str, Any]:
    m = run.run
    return {
        "started_at": m.started_at,
        "suite_version": m.suite_version,
        "catalog_version": m.catalog_version,
        "git_commit": m.git_commit,
        "incomplete": m.incomplete,
    }


def _describe(meta: dict[str, Any]) -> str:
    commit = f" @ {str(meta['git_commit'])[:12]}" if meta.get("git_commit") else ""
    tail = " (INCOMPLETE)" if meta.get("incomplete") else ""
    return (
        f"{meta['started_at']} suite {meta['suite_version'] or '?'}{commit}, "
        f"catalog {meta['catalog_version'] or '?'}{tail}"
    )


def _pct(share: float | None) -> str:
    return "n/a" if share is None else f"{share * 100:.0f}%"


__all__ = ["ADDED", "CHANGED", "FIX", "REGRESSION", "REMOVED", "Change", "RunDiff", "classify", "diff_runs"]
