"""The results model: statuses, one record per provider x model x check, run metadata, and I/O.

Everything that renders or compares runs (report/, diff, merge, gate) reads these records and
nothing else. Records are frozen and serialise to plain JSON; `results.json` is the canonical
file (documented by `conformance/data/schemas/results.schema.json`), and workers stream records as JSON lines so
an interrupted run still leaves everything it finished.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FORMAT = "openai-compat-conformance.results"
FORMAT_VERSION = 1


class Status(str, enum.Enum):
    """Verdict of one check. `unsupported` = cleanly refused an optional feature (4xx, OpenAI-shaped);
    `skipped` = not configured, no key, unreachable; `error` = no verdict could be reached;
    `flaky` = with --repeat N, the verdicts disagreed between repeats (pass rate in `repeats`)."""

    PASS = "pass"
    FAIL = "fail"
    UNSUPPORTED = "unsupported"
    SKIPPED = "skipped"
    ERROR = "error"
    FLAKY = "flaky"


class Level(str, enum.Enum):
    """`must`: common clients break; `should`: the spec says so, clients mostly cope; `may`: optional."""

    MUST = "must"
    SHOULD = "should"
    MAY = "may"


class Kind(str, enum.Enum):
    """`wire`: deterministic protocol facts; `behaviour`: depends on the model following instructions."""

    WIRE = "wire"
    BEHAVIOUR = "behaviour"


@dataclass(frozen=True)
class Tokens:
    """Tokens a check spent; `estimated` when the provider reported no usage and we counted."""

    prompt: int = 0
    completion: int = 0
    total: int = 0
    estimated: bool = False

    def __add__(self, other: Tokens) -> Tokens:
        return Tokens(
            self.prompt + other.prompt,
            self.completion + other.completion,
            self.total + other.total,
            self.estimated or other.estimated,
        )


@dataclass(frozen=True)
class Expectation:
    """A known gap declared in providers.yaml (`expect:`), like a web-platform-tests expectation."""

    status: Status
    reason: str = ""
    link: str = ""


@dataclass(frozen=True)
class Evidence:
    """What a reader needs to act on a verdict: exchanges (redacted, bounded), schema errors,
    stream/SSE findings, and free-form notes."""

    exchanges: tuple[dict[str, Any], ...] = ()
    schema_errors: tuple[dict[str, Any], ...] = ()
    findings: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CheckResult:
    """One verdict: provider x model x check."""

    provider: str
    model: str | None
    check: str
    area: str
    level: Level
    kind: Kind
    status: Status
    message: str = ""
    duration_ms: float = 0.0
    tokens: Tokens = field(default_factory=Tokens)
    requests: int = 0
    retries: int = 0
    expected: Expectation | None = None
    evidence: Evidence = field(default_factory=Evidence)
    metrics: dict[str, float] = field(default_factory=dict)
    repeats: dict[str, Any] | None = None

    @property
    def key(self) -> tuple[str, str | None, str]:
        return (self.provider, self.model, self.check)

    @property
    def as_expected(self) -> bool:
        """True when the status is the one declared in `expect:` for this check."""
        return self.expected is not None and self.expected.status == self.status

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CheckResult:
        exp = data.get("expected")
        ev = data.get("evidence") or {}
        return cls(
            provider=data["provider"],
            model=data.get("model"),
            check=data["check"],
            area=data["area"],
            level=Level(data["level"]),
            kind=Kind(data["kind"]),
            status=Status(data["status"]),
            message=data.get("message", ""),
            duration_ms=float(data.get("duration_ms", 0.0)),
            tokens=Tokens(**(data.get("tokens") or {})),
            requests=int(data.get("requests", 0)),
            retries=int(data.get("retries", 0)),
            expected=Expectation(Status(exp["status"]), exp.get("reason", ""), exp.get("link", ""))
            if exp
            else None,
            evidence=Evidence(
                exchanges=tuple(ev.get("exchanges", ())),
                schema_errors=tuple(ev.get("schema_errors", ())),
                findings=tuple(ev.get("findings", ())),
                notes=tuple(ev.get("notes", ())),
            ),
            metrics=dict(data.get("metrics") or {}),
            repeats=data.get("repeats"),
        )


@dataclass(frozen=True)
class RunMetadata:
    """Facts about the run that make results comparable (or tell that they are not)."""

    started_at: str
    finished_at: str | None = None
    duration_s: float | None = None
    suite_version: str = ""
    catalog_version: str = ""
    git_commit: str | None = None
    providers_file: str | None = None
    providers_sha256: str | None = None
    python: str = ""
    openai: str = ""
    platform: str = ""
    argv: tuple[str, ...] = ()
    workers: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    incomplete: bool = False
    incomplete_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunMetadata:
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["argv"] = tuple(kwargs.get("argv", ()))
        return cls(**kwargs)


@dataclass(frozen=True)
class RunResults:
    """A whole results.json: metadata, providers as configured (redacted), catalog snapshot, records."""

    run: RunMetadata
    providers: tuple[dict[str, Any], ...]
    catalog: dict[str, dict[str, Any]]
    results: tuple[CheckResult, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "run": self.run.to_dict(),
            "providers": list(self.providers),
            "catalog": self.catalog,
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunResults:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a results file (format {data.get('format')!r}, want {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"results format version {data.get('format_version')} is not supported "
                f"(this suite reads version {FORMAT_VERSION})"
            )
        return cls(
            run=RunMetadata.from_dict(data["run"]),
            providers=tuple(data.get("providers", ())),
            catalog=dict(data.get("catalog", {})),
            results=tuple(CheckResult.from_dict(r) for r in data.get("results", ())),
        )


def _plain(obj: Any) -> Any:
    """Dataclasses/enums/tuples -> JSON-ready values."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    return obj


def atomic_write_text(path: Path, text: str) -> None:
    """Write a file so that readers see the old or the new content, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; reports are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_results(path: Path, run: RunResults) -> None:
    atomic_write_text(path, json.dumps(run.to_dict(), indent=1, ensure_ascii=False) + "\n")


def read_results(path: Path) -> RunResults:
    """A results.json read back; ValueError (never a traceback from deep inside) when the file is
    not one: a merged shard or a baseline may come from anywhere."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ValueError(f"{path}: not JSON ({exc})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"{path}: not a results file (no \"format\": \"{FORMAT}\")")
    try:
        return RunResults.from_dict(data)
    except (KeyError, TypeError, AttributeError, ValueError, IndexError) as exc:
        raise ValueError(f"{path}: a malformed results.json ({type(exc).__name__}: {exc})") from None


OUTPUT_FILES = ("results.json", "matrix.html", "summary.md", "junit.xml")
PARTS = "parts"  # worker part files: <out>/parts/results-<worker>.jsonl
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def check_out_dir(path: str | os.PathLike[str]) -> str | None:
    """Why `path` cannot be the output folder, or None. Asked before a run starts, so that a
    mistake is a usage error (exit 2) and not a crash after the providers were called.

    The folder (or its nearest existing parent) must be a directory; `parts` in it, whose old
    files a run deletes, must be a real directory, never a symbolic link; an output file name
    must not be taken by a directory. A symbolic link at an output file's name is fine: files are
    written to a temporary file and renamed over the link, so the link's target is never touched.
    """
    out = Path(path)
    existing = out
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        what = "is a broken symbolic link" if existing.is_symlink() else "is a file"
        return f"{existing} {what}, not a directory"
    parts = out / PARTS
    if parts.is_symlink():
        return (f"{parts} is a symbolic link; a run deletes old part files in it, so it must be a real directory "
                "(remove the link)")
    if os.path.lexists(parts) and not parts.is_dir():
        return f"{parts} is not a directory (a run keeps its part files there)"
    for name in OUTPUT_FILES:
        if (out / name).is_dir() and not (out / name).is_symlink():
            return f"{out / name} is a directory; a run writes a file of that name"
    return None


def _open_dir(path: Path) -> int:
    """A descriptor for directory `path` itself, refusing a symbolic link in its place."""
    try:
        return os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW)
    except OSError as exc:
        if path.is_symlink():
            raise OSError(exc.errno, "a symbolic link, not a directory: nothing is written or deleted through it",
                          str(path)) from None
        raise


def clear_parts(out: Path) -> None:
    """Delete the part files of an earlier run in `out/parts`, and nothing else: never through a
    symbolic link, so cleanup cannot reach outside the output folder."""
    parts = out / PARTS
    if not os.path.lexists(parts):
        return
    fd = _open_dir(parts)
    try:
        for entry in os.scandir(fd):
            if entry.name.startswith("results-") and entry.name.endswith(".jsonl"):
                os.unlink(entry.name, dir_fd=fd)  # a link named so is removed itself, its target untouched
    finally:
        os.close(fd)


def _open_append(path: Path) -> int:
    """`path` opened to append, created if absent; neither it nor its folder may be a symbolic link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | _NOFOLLOW
    fd = _open_dir(path.parent)
    try:
        return os.open(path.name, flags, 0o666, dir_fd=fd)
    except OSError as exc:
        if path.is_symlink():
            raise OSError(exc.errno, "a symbolic link: results are never written through one", str(path)) from None
        raise
    finally:
        os.close(fd)


class JsonLinesWriter:
    """Append-only, flushed-per-record writer: what a worker finished survives a kill. The file
    is opened without following a symbolic link (see `_open_append`)."""

    def __init__(self, path: Path) -> None:
        self._fh = open(_open_append(path), "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()  # batch threads write concurrently

    def write(self, result: CheckResult) -> None:
        line = json.dumps(result.to_dict(), ensure_ascii=False) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()

    def close(self) -> None:
        self._fh.close()


def read_json_lines(paths: Iterable[Path]) -> Iterator[CheckResult]:
    """Records from worker part files; a torn last line (killed mid-write) is skipped."""
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield CheckResult.from_dict(json.loads(line))
                except (ValueError, KeyError):
                    continue
