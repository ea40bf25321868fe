"""The results model: statuses, one record per provider x model x check, run metadata, and I/O.

Everything that renders or compares runs (report/, diff, merge, gate) reads these records and
nothing else. Records are frozen and serialise to plain JSON; `results.json` is the canonical
file (documented by `conformance/data/schemas/results.schema.json`), and workers stream records as
JSON lines so an interrupted run still leaves everything it finished.

The records: CheckResult (+ Tokens, Expectation, and its Evidence: ExchangeRecord, SchemaError,
Finding, which live in conformance/evidence.py and are re-exported here), RunMetadata,
ProviderSnapshot and CatalogSnapshot (what the providers and checks were at run time), RunResults.
Each has `to_dict` and `from_dict`; `from_dict` checks every type it reads (conformance/jsonshape.py),
so a results.json from anywhere is read into records the reports can trust, or refused with a
ValueError naming the place. Adding a field is a change to its record and to the schema.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.evidence import (  # noqa: F401 - re-exported: the evidence records are part of the model
    FINDING_LAYERS,
    Evidence,
    ExchangeRecord,
    Finding,
    RequestRecord,
    ResponseRecord,
    SchemaError,
    Timing,
)
from conformance.jsonshape import NULL, NUMBER, REQUIRED, array_of, member, object_of, read_array, read_object
from conformance.redact import MIN_SEARCH_LENGTH

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

    @classmethod
    def from_dict(cls, data: Any, where: str = "tokens.") -> Tokens:
        counts = {k: member(data, k, int, default=0, where=where) for k in ("prompt", "completion", "total")}
        return cls(**counts, estimated=member(data, "estimated", bool, default=False, where=where))


@dataclass(frozen=True, init=False)
class Expectation:
    """A known gap declared in providers.yaml (`expect:`), like a web-platform-tests expectation:
    the statuses the check is expected to end in (one, or several for a flaky case), why, and the
    bug. `status` reads it as one status (the first allowed, in Status order)."""

    statuses: frozenset[Status]
    reason: str = ""
    link: str = ""

    def __init__(self, status: Status | Iterable[Status], reason: str = "", link: str = "") -> None:
        statuses = frozenset([status] if isinstance(status, Status) else status)
        if not statuses:
            raise ValueError("an expectation allows at least one status")
        object.__setattr__(self, "statuses", statuses)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "link", link)

    @property
    def status(self) -> Status:
        return next(s for s in Status if s in self.statuses)

    def allows(self, status: Status) -> bool:
        return status in self.statuses

    def to_dict(self) -> dict[str, Any]:
        """{status, reason, link}: status a string, or a list when several are allowed."""
        shown = [s.value for s in Status if s in self.statuses]
        return {"status": shown[0] if len(shown) == 1 else shown, "reason": self.reason, "link": self.link}

    @classmethod
    def from_dict(cls, data: Any, where: str = "expected.") -> Expectation:
        status = member(data, "status", str, list, where=where)
        statuses = [status] if isinstance(status, str) else array_of(status, where + "status", str)
        return cls(
            [Status(s) for s in statuses],
            member(data, "reason", str, default="", where=where),
            member(data, "link", str, default="", where=where),
        )


REPEATS_KEYS: dict[str, tuple[type, ...]] = {
    "runs": (int,),
    "passes": (int,),
    "statuses": (list,),
    "pass_rate": (*NUMBER, NULL),
    "wilson_low": NUMBER,
    "wilson_high": NUMBER,
}


def _repeats(data: Any, where: str = "repeats.") -> dict[str, Any] | None:
    """--repeat N: how the runs went (runner.run_case writes it), read back with its types checked."""
    if data is None:
        return None
    out = {k: member(data, k, *kinds, where=where) for k, kinds in REPEATS_KEYS.items() if k in data}
    if "statuses" in out:
        out["statuses"] = [Status(s).value for s in array_of(out["statuses"], where + "statuses", str)]
    return out


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
        """True when the status is one `expect:` declares for this check."""
        return self.expected is not None and self.expected.allows(self.status)

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Any, where: str = "") -> CheckResult:
        def get(key: str, *kinds: type, default: Any = REQUIRED) -> Any:
            return member(data, key, *kinds, default=default, where=where)

        expected = get("expected", dict, NULL, default=None)
        return cls(
            provider=get("provider", str),
            model=get("model", str, NULL, default=None),
            check=get("check", str),
            area=get("area", str),
            level=Level(get("level", str)),
            kind=Kind(get("kind", str)),
            status=Status(get("status", str)),
            message=get("message", str, default=""),
            duration_ms=float(get("duration_ms", *NUMBER, default=0.0)),
            tokens=Tokens.from_dict(get("tokens", dict, default={}), where + "tokens."),
            requests=get("requests", int, default=0),
            retries=get("retries", int, default=0),
            expected=Expectation.from_dict(expected, where + "expected.") if expected is not None else None,
            evidence=Evidence.from_dict(get("evidence", dict, default={}), where + "evidence."),
            metrics=object_of(get("metrics", dict, default={}), where + "metrics", *NUMBER),
            repeats=_repeats(get("repeats", dict, NULL, default=None), where + "repeats."),
        )


_RUN_KINDS: dict[str, tuple[type, ...]] = {
    "started_at": (str,),
    "finished_at": (str, NULL),
    "duration_s": (*NUMBER, NULL),
    "suite_version": (str,),
    "catalog_version": (str,),
    "git_commit": (str, NULL),
    "providers_file": (str, NULL),
    "providers_sha256": (str, NULL),
    "python": (str,),
    "openai": (str,),
    "platform": (str,),
    "argv": (list,),
    "workers": (int,),
    "options": (dict,),
    "incomplete": (bool,),
    "incomplete_reason": (str, NULL),
    "clients": (dict,),
}


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
    clients: dict[str, dict[str, str]] = field(default_factory=dict)  # client library -> package versions

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    @classmethod
    def from_dict(cls, data: Any) -> RunMetadata:
        kwargs = {k: member(data, k, *kinds, where="run.") for k, kinds in _RUN_KINDS.items() if k in data}
        member(data, "started_at", str, where="run.")  # the one required member
        kwargs["argv"] = tuple(array_of(kwargs.get("argv", []), "run.argv", str))
        kwargs["clients"] = {
            name: object_of(versions, f"run.clients.{name}", str)
            for name, versions in object_of(kwargs.get("clients", {}), "run.clients", dict).items()
        }
        return cls(**kwargs)


@dataclass(frozen=True)
class Redaction:
    """How a provider's secrets were kept out of the outputs: how many there are, and how many are
    shorter than `min_length` and so not searched for in provider text."""

    secrets: int = 0
    unsearched: int = 0
    min_length: int = MIN_SEARCH_LENGTH

    @classmethod
    def from_dict(cls, data: Any, where: str = "redaction.") -> Redaction:
        counts = {k: member(data, k, int, where=where) for k in ("secrets", "unsearched", "min_length") if k in data}
        return cls(**counts)


@dataclass(frozen=True)
class ProviderSnapshot:
    """A provider as configured when the run was made (Provider.summary() plus its run status);
    never holds a secret. `models` maps a capability (chat, tools, embeddings) to model names,
    `claims` a model to {claim key: advertised}, `prices` are USD per million tokens."""

    name: str
    base_url: str = ""
    builtin: str | None = None
    models: dict[str, tuple[str, ...]] = field(default_factory=dict)
    claims: dict[str, dict[str, bool]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    expect: dict[str, Expectation] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    redaction: Redaction | None = None  # None: not recorded (a synthetic run)
    status: str = "active"  # "active" | "skipped"
    skip_reason: str | None = None

    @property
    def skipped(self) -> bool:
        return self.status == "skipped"

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}
        if self.redaction is None:
            del out["redaction"]
        return out

    @classmethod
    def from_dict(cls, data: Any, where: str = "provider.") -> ProviderSnapshot:
        def get(key: str, *kinds: type, default: Any) -> Any:
            return member(data, key, *kinds, default=default, where=where)

        status = get("status", str, default="active")
        if status not in ("active", "skipped"):
            raise ValueError(f"{where}status: {status!r} is neither 'active' nor 'skipped'")
        redaction = get("redaction", dict, NULL, default=None)
        return cls(
            name=member(data, "name", str, where=where),
            base_url=get("base_url", str, default=""),
            builtin=get("builtin", str, NULL, default=None),
            models=read_object(get("models", dict, default={}), where + "models", _names),
            claims=read_object(get("claims", dict, default={}), where + "claims", _claims),
            tags=tuple(array_of(get("tags", list, default=[]), where + "tags", str)),
            expect=read_object(get("expect", dict, default={}), where + "expect", Expectation.from_dict),
            prices=object_of(get("prices", dict, default={}), where + "prices", *NUMBER),
            redaction=Redaction.from_dict(redaction, where + "redaction.") if redaction is not None else None,
            status=status,
            skip_reason=get("skip_reason", str, NULL, default=None),
        )


def _names(data: Any, where: str) -> tuple[str, ...]:
    return tuple(array_of(data, where.rstrip("."), str))


def _claims(data: Any, where: str) -> dict[str, bool]:
    return object_of(data, where.rstrip("."), bool)


@dataclass(frozen=True)
class CatalogEntry:
    """What one check is, as the catalog said at run time (catalog.CheckSpec.to_dict)."""

    area: str
    level: Level
    kind: Kind
    needs: str = ""  # provider | chat | tools | embeddings
    title: str = ""
    spec: str = ""
    rationale: str = ""

    @classmethod
    def from_dict(cls, data: Any, where: str = "catalog entry.") -> CatalogEntry:
        text = {k: member(data, k, str, default="", where=where) for k in ("needs", "title", "spec", "rationale")}
        return cls(
            area=member(data, "area", str, where=where),
            level=Level(member(data, "level", str, where=where)),
            kind=Kind(member(data, "kind", str, where=where)),
            **text,
        )


@dataclass(frozen=True)
class CatalogSnapshot(Mapping[str, CatalogEntry]):
    """Check id -> CatalogEntry, in catalog order: what the checks were, so that reports never need
    the suite installed (and a diff can tell that two runs used different catalogs)."""

    entries: dict[str, CatalogEntry] = field(default_factory=dict)

    def __getitem__(self, check_id: str) -> CatalogEntry:
        return self.entries[check_id]

    def __iter__(self) -> Iterator[str]:
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {cid: _plain(entry) for cid, entry in self.entries.items()}

    @classmethod
    def from_dict(cls, data: Any) -> CatalogSnapshot:
        return cls(read_object(data, "catalog", CatalogEntry.from_dict))


@dataclass(frozen=True)
class RunResults:
    """A whole results.json: metadata, providers as configured (redacted), catalog snapshot, records.

    Producers may hand `providers` and `catalog` in their plain forms (Provider.summary() entries
    with a status, Catalog.snapshot()): they are read into their records once, here."""

    run: RunMetadata
    providers: tuple[ProviderSnapshot, ...]
    catalog: CatalogSnapshot
    results: tuple[CheckResult, ...]

    def __post_init__(self) -> None:
        typed = tuple(p if isinstance(p, ProviderSnapshot) else ProviderSnapshot.from_dict(p) for p in self.providers)
        object.__setattr__(self, "providers", typed)
        if not isinstance(self.catalog, CatalogSnapshot):
            object.__setattr__(self, "catalog", CatalogSnapshot.from_dict(self.catalog))

    def provider(self, name: str) -> ProviderSnapshot | None:
        """The snapshot of provider `name`, or None when the run does not list it."""
        return next((p for p in self.providers if p.name == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "run": self.run.to_dict(),
            "providers": [p.to_dict() for p in self.providers],
            "catalog": self.catalog.to_dict(),
            "results": [r.to_dict() for r in self.results],
        }

    @classmethod
    def from_dict(cls, data: Any) -> RunResults:
        if member(data, "format", str, default=None) != FORMAT:
            raise ValueError(f"not a results file (format {data.get('format')!r}, want {FORMAT!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"results format version {data.get('format_version')} is not supported "
                f"(this suite reads version {FORMAT_VERSION})"
            )
        return cls(
            run=RunMetadata.from_dict(member(data, "run", dict)),
            providers=tuple(
                read_array(member(data, "providers", list, default=[]), "providers", ProviderSnapshot.from_dict)
            ),
            catalog=CatalogSnapshot.from_dict(member(data, "catalog", dict, default={})),
            results=tuple(read_array(member(data, "results", list, default=[]), "results", CheckResult.from_dict)),
        )


def _plain(obj: Any) -> Any:
    """Records/enums/tuples -> JSON-ready values (a record with its own to_dict is asked for it)."""
    if isinstance(obj, (Finding, ProviderSnapshot, CatalogSnapshot, Expectation)):
        return obj.to_dict()
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
    """Delete the part files of an earlier run in `out/parts` (results-*.jsonl, and the owners-*.json
    shares of distribution.py), and nothing else: never through a
    symbolic link, so cleanup cannot reach outside the output folder."""
    parts = out / PARTS
    if not os.path.lexists(parts):
        return
    fd = _open_dir(parts)
    try:
        for entry in os.scandir(fd):
            if entry.name.startswith(("results-", "owners-")) and entry.name.endswith((".jsonl", ".json")):
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
