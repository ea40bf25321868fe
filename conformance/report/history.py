"""Run history: one compact file per run (statuses only, keyed), read back for trends and flakiness.

What lives here: `append_history`, `load_history`, `flip_counts` and the HistoryEntry record.
What does not: drawing the trend strips (matrix.py computes their points, the template draws).

A history file is small on purpose (a nightly job keeps months of them in a cache or a branch):
    {"format": "openai-compat-conformance.history", "format_version": 1,
     "run": {started_at, finished_at, suite_version, catalog_version, git_commit, incomplete},
     "summary": {provider: {"must": [passed, evaluated], "should": [...], "may": [...], "all": [...]}},
     "statuses": {provider: {model or "": {check: status}}}}
named `<started_at>-<hash of content>.json`, so appending the same run twice writes one file.
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.report.scores import Score, by_provider, level_scores, timestamp
from conformance.results import RunResults, Status, atomic_write_text

FORMAT = "openai-compat-conformance.history"
FORMAT_VERSION = 1

Key = tuple[str, str | None, str]


@dataclass(frozen=True)
class HistoryEntry:
    """What history keeps of one run."""

    started_at: str
    finished_at: str | None = None
    suite_version: str = ""
    catalog_version: str = ""
    git_commit: str | None = None
    incomplete: bool = False
    statuses: dict[Key, Status] = field(default_factory=dict)
    summary: dict[str, dict[str, Score]] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Content hash: equal for the same run written twice."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def to_dict(self) -> dict[str, Any]:
        statuses: dict[str, dict[str, dict[str, str]]] = {}
        for (provider, model, check), status in self.statuses.items():
            statuses.setdefault(provider, {}).setdefault(model or "", {})[check] = status.value
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "run": {
                "started_at": self.started_at,
                "finished_at": self.finished_at,
                "suite_version": self.suite_version,
                "catalog_version": self.catalog_version,
                "git_commit": self.git_commit,
                "incomplete": self.incomplete,
            },
            "summary": {
                p: {lvl: [s.passed, s.evaluated, s.expected] for lvl, s in levels.items()}
                for p, levels in self.summary.items()
            },
            "statuses": statuses,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HistoryEntry:
        if data.get("format") != FORMAT or data.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"not a history file of version {FORMAT_VERSION}")
        run = data["run"]
        statuses = {
            (provider, model or None, check): Status(status)
            for provider, models in data.get("statuses", {}).items()
            for model, checks in models.items()
            for check, status in checks.items()
        }
        summary = {
            p: {lvl: Score(*(list(v) + [0, 0, 0])[:3]) for lvl, v in levels.items()}
            for p, levels in data.get("summary", {}).items()
        }
        return cls(
            started_at=str(run["started_at"]),
            finished_at=run.get("finished_at"),
            suite_version=run.get("suite_version", ""),
            catalog_version=run.get("catalog_version", ""),
            git_commit=run.get("git_commit"),
            incomplete=bool(run.get("incomplete", False)),
            statuses=statuses,
            summary=summary,
        )


def entry_from_run(run: RunResults) -> HistoryEntry:
    m = run.run
    return HistoryEntry(
        started_at=m.started_at,
        finished_at=m.finished_at,
        suite_version=m.suite_version,
        catalog_version=m.catalog_version,
        git_commit=m.git_commit,
        incomplete=m.incomplete,
        statuses={r.key: r.status for r in run.results},
        summary={p: level_scores(rs) for p, rs in by_provider(run).items()},
    )


def append_history(run: RunResults, history_dir: Path) -> Path:
    """Write this run's compact history file into `history_dir`; returns its path."""
    entry = entry_from_run(run)
    stamp = re.sub(r"[^0-9A-Za-z]+", "-", entry.started_at).strip("-")[:40] or "run"
    path = Path(history_dir) / f"{stamp}-{entry.fingerprint}.json"
    atomic_write_text(path, json.dumps(entry.to_dict(), separators=(",", ":"), ensure_ascii=False) + "\n")
    return path


def load_history(history_dir: Path, limit: int = 30) -> list[HistoryEntry]:
    """The last `limit` runs in `history_dir`, oldest first. Unreadable files are skipped with a warning."""
    entries: list[tuple[tuple[Any, ...], HistoryEntry]] = []
    directory = Path(history_dir)
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("*.json")):
        try:
            entry = HistoryEntry.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            warnings.warn(f"history: skipping {path.name}: {exc}", stacklevel=2)
            continue
        entries.append(((timestamp(entry.started_at), entry.started_at, path.name), entry))
    entries.sort(key=lambda item: item[0])
    chosen = [e for _, e in entries]
    return chosen[-limit:] if limit > 0 else []


def flip_counts(history: Iterable[HistoryEntry | RunResults]) -> dict[Key, int]:
    """How often each provider x model x check changed status between consecutive runs it appeared in.

    Only keys that flipped at least once are returned. A run a key is absent from (provider not
    configured that night) neither breaks nor counts as a flip.
    """
    last: dict[Key, Status] = {}
    flips: dict[Key, int] = {}
    for item in history:
        entry = entry_from_run(item) if isinstance(item, RunResults) else item
        for key, status in entry.statuses.items():
            before = last.get(key)
            if before is not None and before != status:
                flips[key] = flips.get(key, 0) + 1
            last[key] = status
    return flips
