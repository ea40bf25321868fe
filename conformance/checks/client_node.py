"""`client.openai_node`: the recorded responses replayed through the official openai Node SDK.

The Node runner of checks/sdk_replay.py (which holds the plan, the comparators and the check's
shape). It hands the steps' recorded responses to `conformance/clients/node/replay.mjs` on stdin,
and that script serves each one to the pinned `openai` npm package through a custom `fetch` (no
network, no server, no token cost) while calling the matching SDK method with the same parameters:
create (`chat.completions.create`), create_stream (the same with `stream: true`, iterated),
stream_helper (`chat.completions.stream()`: events and `finalChatCompletion()`), run_tools
(`chat.completions.runTools()`, non-streaming: its first request gets the recorded tool-call
response, its follow-up a canned final answer from the script, so what is judged is how the SDK
reads the provider's tool calls and what it sends back) and embeddings (`embeddings.create`
without encoding_format). The script reports what each call handed to application code, in the
shapes sdk_replay.COMPARE reads.

What this check is not: a test of the SDK or of Node. A canned known-good replay runs first in
the script; if it fails the environment is broken and the verdict is `error`, never `fail`.
Node missing, or the SDK missing and not installable, is `skipped` with the reason; a crash, a
timeout or unreadable output of the script is `error` with an excerpt of its stderr.

The SDK on first use (`ensure_node_sdk`): the package ships package.json, the lock file and the
script; the first run with npm on PATH runs `npm ci` from that lock into the user cache
(`$XDG_CACHE_HOME/openai-compat-conformance/node-<lock hash>`, else `~/.cache/...`), once: a
lock file serialises concurrent processes (xdist workers, parallel runs) and the finished folder
appears by an atomic rename, so nobody ever sees half an install. `conformance run --no-install`
(CONFORMANCE_NO_INSTALL=1) turns that off.

The pin is the current major, openai 7.x, although it declares node >= 22 and Node 20 is still
common: the check is about what today's SDK makes of a provider, and 7.x judges differently from
6.x (6.49.0, the last without an engine range, accepts a streamed tool call without `index` and
a finish_reason on every chunk; 7.x rejects both, as quirks.yaml records). Running it on an
older Node is safe for the verdicts: the script's known-good control replay runs first, so an
SDK that misbehaves on this Node gives `error`, never `fail`, and the note names both versions.
npm ci is told `--engine-strict=false` so a user's engine-strict npmrc does not block that.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import importlib.resources
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from conformance import client_envs
from conformance.checks.base import Context, NoVerdict, Skip, check
from conformance.checks.common import excerpt
from conformance.checks.sdk_replay import Library, ReplayRun, Step, StepResult, replay_check

NODE_PACKAGE = importlib.resources.files("conformance") / "clients" / "node"  # package.json, lock, replay.mjs
SCRIPT_NAME = "replay.mjs"
LOCK_NAME = "package-lock.json"
NO_INSTALL_ENV = "CONFORMANCE_NO_INSTALL"
NPM_CI = ("ci", "--no-audit", "--no-fund", "--ignore-scripts", "--engine-strict=false", "--loglevel=error")
NPM_TIMEOUT_S = 600.0
TIMEOUT_S = 60.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024

NODE = Library(
    name="openai-node",
    calls={
        "create": "chat.completions.create",
        "create_stream": "chat.completions.create with stream: true",
        "stream_helper": "chat.completions.stream()",
        "run_tools": "chat.completions.runTools()",
        "embeddings": "embeddings.create",
    },
    tool_call_types=("function", "custom"),  # openai-node's types; its helpers reject any other
)


def pinned_version() -> str | None:
    """The exact openai version package.json pins."""
    try:
        return json.loads((NODE_PACKAGE / "package.json").read_text("utf-8"))["dependencies"]["openai"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- the SDK, installed on first use


def sdk_dir() -> Path:
    """Where the pinned SDK lives: one folder per lock file, so a new pin never reuses an old install."""
    digest = hashlib.sha256((NODE_PACKAGE / LOCK_NAME).read_bytes()).hexdigest()[:16]
    return client_envs.cache_root() / f"node-{digest}"


def _installed(folder: Path) -> bool:
    return (folder / "node_modules" / "openai" / "package.json").is_file()


def ensure_node_sdk(install: bool = True) -> Path | str:
    """The folder whose node_modules holds the pinned openai-node, or why there is none.

    Installs it once (npm ci from the packaged lock, with a one-line notice on stderr) when it is
    missing, npm is on PATH, `install` is true and CONFORMANCE_NO_INSTALL is not set. Safe when
    several processes ask at once. A failed install is not retried within the process."""
    if shutil.which("node") is None:
        return "node not found on PATH: install Node.js to replay responses through openai-node"
    target = sdk_dir()
    if _installed(target):
        return target
    pin = pinned_version()
    if not install or os.environ.get(NO_INSTALL_ENV):
        return f"openai-node {pin} is not installed in {target} and installing it is turned off (--no-install, ${NO_INSTALL_ENV})"
    npm = shutil.which("npm")
    if npm is None:
        return f"npm not found on PATH: install npm so openai-node {pin} can be installed on first use"
    return _install(target, npm)


@functools.cache
def _install(target: Path, npm: str) -> Path | str:
    """npm ci into a staging folder beside `target`, renamed into place when complete (once per
    process; client_envs.install_once serialises processes)."""
    pin = pinned_version()

    def build(staging: Path) -> str | None:  # only the process that builds says so
        print(f"conformance: installing openai-node {pin} once, for client.openai_node, into {target} "
              "(npm ci; --no-install turns this off)", file=sys.stderr, flush=True)
        return _npm_ci(npm, staging)

    failure = client_envs.install_once(target, build, ready=_installed)
    if failure:
        return f"could not install openai-node {pin}: {failure}"
    return target


def _npm_ci(npm: str, folder: Path) -> str | None:
    """Run npm ci from the packaged package.json + lock in `folder`; None when openai is installed."""
    for name in ("package.json", LOCK_NAME):
        (folder / name).write_bytes((NODE_PACKAGE / name).read_bytes())
    try:
        proc = subprocess.run(
            [npm, *NPM_CI], cwd=folder, stdin=subprocess.DEVNULL, capture_output=True, timeout=NPM_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        return f"npm ci did not finish within {NPM_TIMEOUT_S:g} s"
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        return f"npm ci failed (exit {proc.returncode}): {excerpt(err[-600:], 600) or '(no stderr)'}"
    if not _installed(folder):
        return "npm ci succeeded but installed no node_modules/openai"
    return None


def replay_script(sdk: Path) -> Path:
    """replay.mjs inside the SDK folder, where node resolves `openai` from.

    The copy is named by its content hash, so two installed versions of this package sharing the
    cache never run each other's script; it is written to a temporary name and renamed."""
    data = (NODE_PACKAGE / SCRIPT_NAME).read_bytes()
    path = sdk / f"replay-{hashlib.sha256(data).hexdigest()[:12]}.mjs"
    if not path.is_file():
        fd, tmp = tempfile.mkstemp(dir=sdk, prefix=".replay-", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    return path


def payload(steps: list[Step]) -> bytes:
    """The script's stdin: each recorded response once, and the calls that replay them."""
    exchanges: dict[str, dict[str, Any]] = {}
    for step in steps:
        exchanges[step.probe] = {
            "status": step.exchange.status,
            "headers": step.exchange.headers,
            "body_b64": base64.b64encode(step.exchange.body).decode("ascii"),
        }
    calls = [{"name": s.probe, "call": s.call, "params": s.params(), "serve": [s.probe]} for s in steps]
    return json.dumps({"exchanges": exchanges, "steps": calls}, ensure_ascii=False).encode("utf-8")


def run_replay(data: bytes, script: Path, timeout_s: float = TIMEOUT_S) -> dict[str, Any]:
    """Run `node <script>` on `data`; its parsed output, or NoVerdict saying why there is none."""
    node = shutil.which("node")
    if node is None:
        raise Skip("node not found on PATH")
    # OPENAI_* variables (OPENAI_LOG, OPENAI_BASE_URL...) would change what the SDK does or prints.
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = subprocess.run(
                [node, str(script)], check=False, input=data, stdout=out, stderr=err, cwd=script.parent, env=env, timeout=timeout_s
            )
        except subprocess.TimeoutExpired:
            raise NoVerdict(f"node replay.mjs did not finish within {timeout_s:g} s: {_tail(err)}") from None
        except OSError as exc:
            raise NoVerdict(f"could not start node: {exc}") from None
        size = out.seek(0, os.SEEK_END)
        if size > MAX_OUTPUT_BYTES:
            raise NoVerdict(f"node replay.mjs wrote {size} bytes, more than the {MAX_OUTPUT_BYTES} allowed")
        out.seek(0)
        raw = out.read()
        if proc.returncode != 0:
            raise NoVerdict(f"node replay.mjs crashed (exit {proc.returncode}): {_tail(err)}")
    try:
        result = json.loads(raw)
    except ValueError:
        raise NoVerdict(f"node replay.mjs printed no JSON: {excerpt(raw.decode('utf-8', 'replace'), 300)!r}") from None
    if not isinstance(result, dict) or not isinstance(result.get("steps"), list):
        raise NoVerdict(f"node replay.mjs printed an unexpected shape: {excerpt(result, 300)}")
    return result


def _tail(err: Any, limit: int = 600) -> str:
    err.seek(0)
    text = err.read().decode("utf-8", "replace").strip()
    return ("…" + text[-limit:]) if len(text) > limit else (text or "(no stderr)")


# ---------------------------------------------------------------- the check


def replay_run(result: dict[str, Any]) -> ReplayRun:
    """The script's output as a ReplayRun; NoVerdict where it says nothing about the provider
    (the known-good control replay failed)."""
    control = result.get("control") or {}
    sdk, node, engines = result.get("sdk"), result.get("node"), result.get("sdk_engines")
    if not control.get("ok"):
        raise NoVerdict(f"openai-node {sdk} does not work on node {node} here (a known-good replay failed: {control.get('error')})")
    notes = [f"replayed through openai-node {sdk} on node {node} (the SDK declares node {engines})"]
    if result.get("unhandled"):
        # A Node application crashes on an unhandled rejection even when it awaited the call.
        notes.append(f"openai-node left unhandled promise rejections: {excerpt(result['unhandled'], 300)}")
    pin = pinned_version()
    if pin and sdk != pin:
        notes.append(f"installed openai {sdk} differs from the pinned {pin}: delete {sdk_dir()} to reinstall it")
    results = tuple(_step_result(out) for out in result["steps"])
    return ReplayRun(str(sdk), f"node {node}", results, tuple(notes))


def _step_result(out: Any) -> StepResult:
    if not isinstance(out, dict) or not out.get("ok"):
        return StepResult(False, str(out.get("error") if isinstance(out, dict) else out))
    observed = out.get("observed")
    return StepResult(True, observed=observed if isinstance(observed, dict) else {})


@check("client.openai_node")
def client_openai_node(ctx: Context) -> str | None:
    sdk_folder = ensure_node_sdk(install=True)
    if isinstance(sdk_folder, str):
        raise Skip(sdk_folder)

    def replay_in_node(steps: list[Step]) -> ReplayRun:
        try:
            script = replay_script(sdk_folder)
        except OSError as exc:
            raise NoVerdict(f"could not place replay.mjs in {sdk_folder}: {exc}") from None
        return replay_run(run_replay(payload(steps), script))

    return replay_check(ctx, NODE, replay_in_node)
