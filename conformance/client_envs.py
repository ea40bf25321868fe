"""Client libraries' environments: one each, in the user cache, built from the pins the package ships.

The libraries the suite replays responses through (`conformance/clients/libraries.yaml`) never share
an environment with the suite or with each other: instructor and LlamaIndex, for one, resolve
different openai majors. `conformance clients install [NAMES]` builds them:

- a Python library gets a venv (`python -m venv`, then `pip install -r clients/pins/NAME.txt`);
- a node library gets `npm ci` of `clients/NAME/package-lock.json`.

Each lands in `<cache>/clients/NAME-<digest>`, where the digest covers the pins, the adapter-facing
runtime (the Python minor version) and nothing else, so a new pin never reuses an old install and an
old one is left alone. Installs are safe when several processes ask at once (a lock file; the folder
appears by an atomic rename of a staging folder, with a `ready.json` marker written last). Nothing
is ever installed implicitly by a run: a check whose library is not installed is `skipped` with the
command that installs it.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

try:
    import fcntl
except ImportError:  # Windows: no lock, the atomic rename alone keeps installs whole
    fcntl = None  # type: ignore[assignment]

CLIENTS = importlib.resources.files("conformance") / "clients"
CACHE_APP = "openai-compat-conformance"
READY = "ready.json"
PIP_TIMEOUT_S = 1800.0
NPM_CI = ("ci", "--no-audit", "--no-fund", "--ignore-scripts", "--engine-strict=false", "--loglevel=error")
# Packages whose versions are recorded for a Python library (besides its pinned ones).
ALSO_RECORDED = ("openai", "pydantic", "httpx")


@dataclass(frozen=True)
class LibrarySpec:
    """One client library as libraries.yaml declares it."""

    name: str
    check: str
    title: str
    runtime: str  # python | node
    official: bool = False

    @property
    def install_command(self) -> str:
        return f"conformance clients install {self.name}"


@functools.cache
def libraries() -> tuple[LibrarySpec, ...]:
    """The libraries of libraries.yaml, in its order."""
    data = yaml.safe_load((CLIENTS / "libraries.yaml").read_text("utf-8"))
    return tuple(LibrarySpec(**entry) for entry in data["libraries"])


def library(name: str) -> LibrarySpec:
    """A library by name (KeyError naming the known ones)."""
    for spec in libraries():
        if spec.name == name:
            return spec
    raise KeyError(f"unknown client library {name!r}; known: {', '.join(s.name for s in libraries())}")


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/openai-compat-conformance`, else `~/.cache/...` (the XDG rule: a relative
    XDG_CACHE_HOME is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / CACHE_APP


def _pin_files(spec: LibrarySpec) -> list[tuple[str, bytes]]:
    if spec.runtime == "node":
        folder = CLIENTS / spec.name
        return [(n, (folder / n).read_bytes()) for n in ("package.json", "package-lock.json")]
    return [(f"{spec.name}.txt", (CLIENTS / "pins" / f"{spec.name}.txt").read_bytes())]


def env_dir(spec: LibrarySpec) -> Path:
    """Where the library's environment lives for these pins (and, for Python, this minor version)."""
    digest = hashlib.sha256()
    for name, data in _pin_files(spec):
        digest.update(name.encode() + b"\0" + data + b"\0")
    if spec.runtime == "python":
        digest.update(f"python{sys.version_info[0]}.{sys.version_info[1]}".encode())
    return cache_root() / "clients" / f"{spec.name}-{digest.hexdigest()[:12]}"


def installed(spec: LibrarySpec) -> dict[str, Any] | None:
    """The install record (versions, seconds, size) when the environment is complete, else None."""
    try:
        return json.loads((env_dir(spec) / READY).read_text("utf-8"))
    except (OSError, ValueError):  # not installed, or the package lacks its pins
        return None


def worker_argv(spec: LibrarySpec, env: Path) -> list[str]:
    """The command that starts the library's replay worker (cwd: `env`)."""
    if spec.runtime == "node":
        node = shutil.which("node") or "node"
        return [node, str(env / "replay.mjs")]
    return [str(env / "bin" / "python"), "-u", str(Path(str(CLIENTS / "python" / "harness.py"))), spec.name]


# ---------------------------------------------------------------- installing


@dataclass(frozen=True)
class InstallResult:
    """What `install` did for one library."""

    spec: LibrarySpec
    path: Path
    error: str | None = None
    seconds: float = 0.0
    size_bytes: int = 0
    versions: dict[str, str] | None = None
    fresh: bool = False  # False: it was installed already


def install(spec: LibrarySpec, *, force: bool = False, log: Callable[[str], None] = lambda _: None) -> InstallResult:
    """Build the library's environment unless it is complete already (`force`: build it again)."""
    target = env_dir(spec)
    record = installed(spec)
    if record is not None and not force:
        return InstallResult(spec, target, None, record.get("seconds", 0.0), record.get("size_bytes", 0), record.get("versions"))
    build = _build_node if spec.runtime == "node" else _build_python
    start = time.monotonic()
    failure = install_once(target, lambda staging: build(spec, staging, log), force=force)
    if failure:
        return InstallResult(spec, target, failure)
    record = installed(spec) or {}
    return InstallResult(spec, target, None, round(time.monotonic() - start, 1), record.get("size_bytes", 0),
                         record.get("versions"), fresh=True)


def install_once(target: Path, build: Callable[[Path], str | None], *, force: bool = False,
                 ready: Callable[[Path], bool] | None = None) -> str | None:
    """Build into a staging folder beside `target` and rename it into place; None on success.

    Serialised by `<target>.lock`, so concurrent processes build once; whoever waited finds the
    folder ready (`ready`, default: its ready.json exists) and builds nothing."""
    is_ready = ready or (lambda folder: (folder / READY).is_file())
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(target.with_name(target.name + ".lock")):
            if is_ready(target) and not force:
                return None
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            try:
                failure = build(staging)
                if failure:
                    return failure
                if target.exists():
                    shutil.rmtree(target)
                os.rename(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # gone after the rename; left over on failure
    except OSError as exc:
        return f"could not install into {target.parent}: {exc}"
    return None


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (released by the OS if the process dies)."""
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def _run(argv: list[str], cwd: Path, timeout: float) -> str | None:
    """Run an install command; None on success, else the tail of what it said."""
    try:
        proc = subprocess.run(argv, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"{Path(argv[0]).name} {argv[1]} did not finish within {timeout:g} s"
    except OSError as exc:
        return f"could not run {argv[0]}: {exc}"
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip()
        return f"{' '.join(argv[:3])} failed (exit {proc.returncode}): …{err[-800:]}"
    return None


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def _finish(staging: Path, seconds: float, versions: dict[str, str]) -> None:
    record = {"versions": versions, "seconds": round(seconds, 1), "size_bytes": _size(staging),
              "installed_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (staging / READY).write_text(json.dumps(record, indent=1, sort_keys=True), "utf-8")


def _build_python(spec: LibrarySpec, staging: Path, log: Callable[[str], None]) -> str | None:
    start = time.monotonic()
    pins = staging / "pins.txt"
    pins.write_bytes(_pin_files(spec)[0][1])
    log(f"{spec.name}: python -m venv, pip install -r pins/{spec.name}.txt")
    python = str(staging / "bin" / "python")
    failure = _run([sys.executable, "-m", "venv", str(staging)], staging, 300) or _run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(pins)], staging, PIP_TIMEOUT_S
    )
    if failure:
        return failure
    names = [line.split("==")[0].split("[")[0].strip() for line in pins.read_text("utf-8").splitlines()
             if "==" in line and not line.lstrip().startswith("#")]
    probe = ("import json, sys\nfrom importlib.metadata import version, PackageNotFoundError\nout = {}\n"
             "for n in sys.argv[1:]:\n    try: out[n] = version(n)\n    except PackageNotFoundError: pass\nprint(json.dumps(out))")
    try:
        out = subprocess.run([python, "-c", probe, *dict.fromkeys(names + list(ALSO_RECORDED))],
                             capture_output=True, timeout=120, check=True).stdout
        versions = json.loads(out)
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        return f"the venv does not run: {exc}"
    _finish(staging, time.monotonic() - start, versions)
    return None


def _build_node(spec: LibrarySpec, staging: Path, log: Callable[[str], None]) -> str | None:
    start = time.monotonic()
    npm = shutil.which("npm")
    if npm is None:
        return "npm not found on PATH"
    folder = CLIENTS / spec.name
    for name in ("package.json", "package-lock.json", "replay.mjs"):
        (staging / name).write_bytes((folder / name).read_bytes())
    log(f"{spec.name}: npm ci")
    failure = _run([npm, *NPM_CI], staging, PIP_TIMEOUT_S)
    if failure:
        return failure
    deps = json.loads((staging / "package.json").read_text("utf-8")).get("dependencies", {})
    versions = {}
    for dep in deps:
        try:
            versions[dep] = json.loads((staging / "node_modules" / dep / "package.json").read_text("utf-8"))["version"]
        except (OSError, ValueError, KeyError):
            return f"npm ci installed no {dep}"
    _finish(staging, time.monotonic() - start, versions)
    return None


def sync_script(spec: LibrarySpec, env: Path) -> None:
    """A node library's worker script is copied into its environment (where node resolves its
    packages); refresh the copy when the package's script changed since the install."""
    if spec.runtime != "node":
        return
    data = (CLIENTS / spec.name / "replay.mjs").read_bytes()
    path = env / "replay.mjs"
    if not path.is_file() or path.read_bytes() != data:
        fd, tmp = tempfile.mkstemp(dir=env, prefix=".replay-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)


def installed_versions() -> dict[str, dict[str, str]]:
    """Library name -> package versions, for every library installed (what results.json records)."""
    out = {}
    for spec in libraries():
        record = installed(spec)
        if record is not None:
            out[spec.name] = dict(record.get("versions") or {})
    return out
