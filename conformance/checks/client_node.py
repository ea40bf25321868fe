"""`client.openai_node`: what the official openai Node SDK makes of the responses the suite saw.

The Node twin of `client.openai_python` (checks/client.py). It gathers the recorded 2xx exchanges
(chat, stream, tool calls, streamed tool calls, base64 embeddings), hands them to
`conformance/clients/node/replay.mjs` on stdin, and that script serves each recorded response to
the pinned `openai` npm package through a custom `fetch` (no network, no server, no token cost)
while calling the matching SDK method with the same parameters:

    chat_basic      chat.completions.create
    stream_basic    chat.completions.create({stream: true}) iterated; chat.completions.stream()
    tools_auto      chat.completions.create; chat.completions.runTools() (non-streaming)
    tools_parallel  chat.completions.create; chat.completions.runTools() (non-streaming)
    tools_stream    chat.completions.create({stream: true}) iterated; chat.completions.stream()
    emb_base64      embeddings.create without encoding_format (the SDK asks for base64 and decodes)

runTools is replayed non-streaming only: its first request gets the recorded tool-call response,
its follow-up (carrying the tool results) gets a canned final answer from the script, so what is
judged is how the SDK reads the provider's tool calls and what it sends back, not a second
provider answer. The script reports what each call handed to application code; this module
compares that with the wire (same text, same tool calls with string id/name/arguments, the
decoded vector equal to the wire's float32 values and as long as the float vector, typed fields
present) and fails naming the first problem; the others go into the notes.

Not replayed (and said so in a note): non-2xx answers, and streams the provider ended with an
in-stream error event (the SDK rightly raises APIError on those; errors.* judges them).

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
import binascii
import contextlib
import dataclasses
import functools
import hashlib
import importlib.resources
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no lock, the atomic rename alone keeps installs whole
    fcntl = None  # type: ignore[assignment]

from conformance.checks.base import Context, Fail, NoVerdict, Skip, check
from conformance.checks.common import cut_at_cap, excerpt, text_of
from conformance.checks.embeddings import decode_base64_f32
from conformance.checks.tools import accumulate_tool_calls
from conformance.transport import Exchange

NODE_PACKAGE = importlib.resources.files("conformance") / "clients" / "node"  # package.json, lock, replay.mjs
SCRIPT_NAME = "replay.mjs"
LOCK_NAME = "package-lock.json"
CACHE_APP = "openai-compat-conformance"
NO_INSTALL_ENV = "CONFORMANCE_NO_INSTALL"
NPM_CI = ("ci", "--no-audit", "--no-fund", "--ignore-scripts", "--engine-strict=false", "--loglevel=error")
NPM_TIMEOUT_S = 600.0
TIMEOUT_S = 60.0
MAX_OUTPUT_BYTES = 64 * 1024 * 1024

CALL_LABELS = {
    "create": "chat.completions.create",
    "create_stream": "chat.completions.create with stream: true",
    "stream_helper": "chat.completions.stream()",
    "run_tools": "chat.completions.runTools()",
    "embeddings": "embeddings.create",
}


@dataclass(frozen=True)
class Step:
    """One SDK call to replay: the probe whose response it serves, and for embeddings the float twin."""

    probe: str
    call: str
    exchange: Exchange
    floats: Exchange | None = None

    @property
    def label(self) -> str:
        return CALL_LABELS[self.call]

    def params(self) -> dict[str, Any]:
        body = dict(self.exchange.request_body) if isinstance(self.exchange.request_body, dict) else {}
        body.pop("stream", None)
        return body


def pinned_version() -> str | None:
    """The exact openai version package.json pins."""
    try:
        return json.loads((NODE_PACKAGE / "package.json").read_text("utf-8"))["dependencies"]["openai"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------- the SDK, installed on first use


def cache_root() -> Path:
    """`$XDG_CACHE_HOME/openai-compat-conformance`, else `~/.cache/...` (the XDG rule: a relative
    XDG_CACHE_HOME is ignored)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    return (Path(base) if os.path.isabs(base) else Path.home() / ".cache") / CACHE_APP


def sdk_dir() -> Path:
    """Where the pinned SDK lives: one folder per lock file, so a new pin never reuses an old install."""
    digest = hashlib.sha256((NODE_PACKAGE / LOCK_NAME).read_bytes()).hexdigest()[:16]
    return cache_root() / f"node-{digest}"


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
    """npm ci into a staging folder beside `target`, renamed into place when complete."""
    pin = pinned_version()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with _exclusive(target.with_name(target.name + ".lock")):
            if _installed(target):  # another process finished it while this one waited
                return target
            print(f"conformance: installing openai-node {pin} once, for client.openai_node, into {target} "
                  "(npm ci; --no-install turns this off)", file=sys.stderr, flush=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
            try:
                failure = _npm_ci(npm, staging)
                if failure:
                    return f"could not install openai-node {pin}: {failure}"
                if target.exists():  # an incomplete folder (someone deleted node_modules/openai): replace it
                    shutil.rmtree(target)
                os.rename(staging, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)  # gone after the rename; left over on failure
    except OSError as exc:
        return f"could not install openai-node {pin} into {target.parent}: {exc}"
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


@contextlib.contextmanager
def _exclusive(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (released by the OS if the process dies)."""
    with open(path, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


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


def _not_replayable(ex: Exchange) -> str | None:
    """Why an exchange is not replayed (None: it is)."""
    if ex.status is None or ex.error:
        return ex.error or "no response"
    if not ex.ok:
        return f"HTTP {ex.status}"
    if ex.stream_requested and ex.stream.error_event is not None:
        # The provider declined mid-stream, the OpenAI way; the SDK raising APIError is right.
        return "the provider reported an error mid-stream"
    return None


def plan(ctx: Context) -> list[Step]:
    """The SDK calls to replay, from the probes the suite already has (successful ones only).

    What is left out, and why, goes into the notes."""
    steps: list[Step] = []
    skipped: list[str] = []

    def add(probe: str, ex: Exchange, *calls: str, floats: Exchange | None = None) -> None:
        reason = _not_replayable(ex) or (_not_replayable(floats) if floats is not None else None)
        if reason:
            skipped.append(f"{probe} ({excerpt(reason, 80)})")
            return
        if "run_tools" in calls and cut_at_cap(ex):
            # runTools() refuses an answer cut at the cap (LengthFinishReasonError) whoever sent it:
            # that says nothing about the provider. create() still reads the same answer.
            calls = tuple(c for c in calls if c != "run_tools")
            skipped.append(f"{probe} runTools() (the answer was cut at our token cap)")
        steps.extend(Step(probe, call, ex, floats) for call in calls)

    chat = ctx.model_for("chat")
    add("chat_basic", ctx.probe("chat_basic", chat), "create")
    add("stream_basic", ctx.probe("stream_basic", chat), "create_stream", "stream_helper")
    if ctx.provider.model_configs("tools"):
        tools = ctx.model_for("tools")
        for probe in ("tools_auto", "tools_parallel"):
            add(probe, ctx.probe(probe, tools), "create", "run_tools")
        add("tools_stream", ctx.probe("tools_stream", tools), "create_stream", "stream_helper")
    if ctx.provider.model_configs("embeddings"):
        emb = ctx.model_for("embeddings")
        add("emb_base64", ctx.probe("emb_base64", emb), "embeddings", floats=ctx.probe("emb_single", emb))
    if skipped:
        ctx.note("not replayed through openai-node: " + "; ".join(skipped))
    return steps


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


# ---------------------------------------------------------------- comparisons (SDK output vs wire)


def _wire_message(ex: Exchange) -> dict[str, Any]:
    body = ex.json_body
    try:
        message = body["choices"][0]["message"]
    except (TypeError, KeyError, IndexError):
        return {}
    return message if isinstance(message, dict) else {}


def _wire_calls(ex: Exchange) -> list[dict[str, Any]]:
    calls = _wire_message(ex).get("tool_calls")
    return [c for c in calls if isinstance(c, dict)] if isinstance(calls, list) else []


def _js_type(value: Any) -> str:
    """The JavaScript name of a JSON value's type, as the application sees it."""
    if value is None:
        return "null"
    for py, js in ((bool, "boolean"), (str, "string"), ((int, float), "number"), (dict, "object"), (list, "array")):
        if isinstance(value, py):
            return js
    return type(value).__name__


def _show(value: Any) -> str:
    """A value as JSON, so that "" and null read as such in a message."""
    return excerpt(json.dumps(value, ensure_ascii=False, default=str), 80)


def _fn(call: Any) -> dict[str, Any]:
    fn = call.get("function") if isinstance(call, dict) else None
    return fn if isinstance(fn, dict) else {}


def _first_choice(completion: Any, what: str) -> tuple[dict[str, Any] | None, list[str]]:
    if not isinstance(completion, dict):
        return None, [f"{what} is {_js_type(completion)} {excerpt(completion)!r}, not an object"]
    choices = completion.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None, [f"{what} has no choices (choices={excerpt(choices)})"]
    if not isinstance(choices[0].get("message"), dict):
        return None, [f"{what}: choices[0].message is {excerpt(choices[0].get('message'))}"]
    return choices[0], []


def _typed_fields(completion: dict[str, Any], choice: dict[str, Any]) -> list[str]:
    problems = []
    if not isinstance(completion.get("id"), str):
        problems.append(f"id reaches the application as {_show(completion.get('id'))}")
    if not isinstance(choice.get("finish_reason"), str):
        problems.append(f"finish_reason reaches the application as {_show(choice.get('finish_reason'))}")
    role = choice["message"].get("role")
    if role != "assistant":
        # The SDK's own stream helper refuses a message without it, and applications append the
        # message to the conversation as is: without a role the next turn is rejected.
        problems.append(f"message.role reaches the application as {_show(role)}, not \"assistant\"")
    content = choice["message"].get("content")
    if content is not None and not isinstance(content, str):
        problems.append(f"message.content reaches the application as {_js_type(content)}, not a string")
    usage = completion.get("usage")
    if isinstance(usage, dict):
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            if type(usage.get(name)) is not int:
                problems.append(f"usage.{name} reaches the application as {_show(usage.get(name))}")
    return problems


def _call_problems(sdk_calls: Any, wire: list[tuple[Any, Any, Any]], what: str) -> list[str]:
    """Tool calls the SDK handed over vs the wire's (id, name, arguments), in order."""
    if sdk_calls is None:
        sdk_calls = []
    if not isinstance(sdk_calls, list):
        return [f"{what} tool_calls is {excerpt(sdk_calls)}, not a list"]
    problems = []
    if len(sdk_calls) != len(wire):
        problems.append(f"{what} has {len(sdk_calls)} tool calls; the wire has {len(wire)}")
    for i, (call, (wid, wname, wargs)) in enumerate(zip(sdk_calls, wire)):
        fn = _fn(call)
        cid = call.get("id") if isinstance(call, dict) else None
        if not isinstance(cid, str) or not cid:
            problems.append(f"{what} tool_calls[{i}].id is {_show(cid)}")
        elif wid is not None and cid != wid:
            problems.append(f"{what} tool_calls[{i}].id {excerpt(cid)!r}; the wire said {excerpt(wid)!r}")
        if not isinstance(fn.get("name"), str) or (wname is not None and fn.get("name") != wname):
            problems.append(f"{what} tool_calls[{i}].function.name {excerpt(fn.get('name'))!r}; the wire said {excerpt(wname)!r}")
        if isinstance(call, dict) and call.get("type") not in ("function", "custom"):
            problems.append(
                f"{what} tool_calls[{i}].type is {_show(call.get('type'))}; openai-node's types promise "
                "'function' and its helpers reject other types"
            )
        args = fn.get("arguments")
        if not isinstance(args, str):
            problems.append(f"{what} tool_calls[{i}].function.arguments reaches the application as {_js_type(args)}, not a string")
        elif args != wargs:
            problems.append(f"{what} tool_calls[{i}].function.arguments {excerpt(args)!r} != wire {excerpt(wargs)!r}")
    return problems


def _completion_problems(completion: Any, what: str, wire_text: str, wire_calls: list[tuple[Any, Any, Any]]) -> list[str]:
    """A completion the SDK handed over vs the wire: typed fields, text, tool calls."""
    choice, problems = _first_choice(completion, what)
    if choice is None:
        return problems
    problems = _typed_fields(completion, choice)
    content = choice["message"].get("content")
    if text_of(content) != wire_text:
        problems.append(f"{what} content {excerpt(content)!r} != wire text {excerpt(wire_text)!r}")
    return problems + _call_problems(choice["message"].get("tool_calls"), wire_calls, what)


def _create(step: Step, observed: dict[str, Any]) -> list[str]:
    wire_text = text_of(_wire_message(step.exchange).get("content"))
    wire_calls = [(c.get("id"), _fn(c).get("name"), _fn(c).get("arguments")) for c in _wire_calls(step.exchange)]
    problems = _completion_problems(observed.get("completion"), "completion", wire_text, wire_calls)
    if problems and not isinstance(observed.get("completion"), dict):
        problems[0] += f" (response content-type: {step.exchange.content_type or 'none'})"
    return problems


def _streamed_wire_calls(step: Step) -> list[tuple[Any, Any, Any]]:
    calls, _ = accumulate_tool_calls(step.exchange.stream)
    return [(c.ids[0] if c.ids else None, c.names[0] if c.names else None, c.arguments) for c in calls]


def _create_stream(step: Step, observed: dict[str, Any]) -> list[str]:
    wire = step.exchange.stream
    chunks = observed.get("chunks") or []
    count = observed.get("chunk_count")
    problems = []
    if count != len(wire.chunks):
        problems.append(f"the SDK yielded {count} chunks; the wire has {len(wire.chunks)}")
    # Read the SDK's chunks the way the wire's are read, so both sides use one accumulation.
    sdk = dataclasses.replace(wire, chunks=tuple(c for c in chunks if isinstance(c, dict)))
    if sdk.text(0) != wire.text(0):
        problems.append(f"the chunks' delta.content joins to {excerpt(sdk.text(0))!r}; the wire's to {excerpt(wire.text(0))!r}")
    sdk_calls, wire_calls = (
        [(c.index, c.ids, c.names, c.arguments) for c in accumulate_tool_calls(stream)[0]] for stream in (sdk, wire)
    )
    if sdk_calls != wire_calls:
        problems.append(f"the chunks' tool-call deltas add up to {excerpt(sdk_calls)}; the wire's to {excerpt(wire_calls)}")
    return problems


def _stream_helper(step: Step, observed: dict[str, Any]) -> list[str]:
    wire_text, wire = step.exchange.stream.text(0), _streamed_wire_calls(step)
    problems = _completion_problems(observed.get("final"), "finalChatCompletion()", wire_text, wire)
    if (observed.get("content_deltas") or "") != wire_text:
        problems.append(f"the 'content' events join to {excerpt(observed.get('content_deltas'))!r}; the wire text is {excerpt(wire_text)!r}")
    done = {e.get("index"): e for e in observed.get("tool_calls_done") or [] if isinstance(e, dict)}
    for i, (_, name, args) in enumerate(wire):
        event = done.get(i)
        if event is None:
            problems.append(f"no 'tool_calls.function.arguments.done' event for tool call {i} ({excerpt(name)})")
        elif event.get("arguments") != args or event.get("name") != name:
            problems.append(
                f"'tool_calls.function.arguments.done' for tool call {i} gave {excerpt(event.get('name'))}"
                f"({excerpt(event.get('arguments'))}); the wire has {excerpt(name)}({excerpt(args)})"
            )
    return problems


def _run_tools(step: Step, observed: dict[str, Any]) -> list[str]:
    calls = _wire_calls(step.exchange)
    invocations = [i for i in observed.get("invocations") or [] if isinstance(i, dict)]
    requests = observed.get("requests") or []
    problems = []
    if not calls:
        text = text_of(_wire_message(step.exchange).get("content"))
        if (observed.get("final_content") or "") != text:
            problems.append(f"finalContent() {excerpt(observed.get('final_content'))!r} != wire {excerpt(text)!r}")
        return problems
    for i, call in enumerate(calls):
        name, args = _fn(call).get("name"), _fn(call).get("arguments")
        got = invocations[i] if i < len(invocations) else None
        if got is None:
            problems.append(f"runTools() never handed tool call {i} ({excerpt(name)}) to the application's function")
        elif got.get("name") != name:
            problems.append(f"runTools() called {excerpt(got.get('name'))} for tool call {i}; the wire names {excerpt(name)}")
        elif got.get("arguments_type") != "string":
            problems.append(
                f"runTools() handed the {excerpt(name)} parser arguments of type {got.get('arguments_type')} "
                f"({excerpt(got.get('arguments'))}), not the JSON string"
            )
        elif got.get("arguments") != args:
            problems.append(f"runTools() handed the {excerpt(name)} parser {excerpt(got.get('arguments'))!r}; the wire has {excerpt(args)!r}")
        elif not got.get("parsed"):
            problems.append(f"runTools() could not JSON.parse the arguments of tool call {i}: {excerpt(args)!r}")
    if len(requests) < 2:
        problems.append("runTools() never sent the tool results back")
        return problems
    followup = requests[1].get("body") if isinstance(requests[1], dict) else None
    messages = followup.get("messages") if isinstance(followup, dict) else None
    sent_ids = [m.get("tool_call_id") for m in messages or [] if isinstance(m, dict) and m.get("role") == "tool"]
    wire_ids = [c.get("id") for c in calls]
    if sent_ids != wire_ids:
        problems.append(f"runTools() sent tool results for ids {excerpt(sent_ids)}; the response's tool calls have ids {excerpt(wire_ids)}")
    return problems


def _decoded_vector(observed: dict[str, Any]) -> list[float] | None:
    items = observed.get("embeddings") or []
    vec = items[0].get("embedding") if items and isinstance(items[0], dict) else None
    if not isinstance(vec, list) or not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in vec):
        return None
    return [float(x) for x in vec]


def _embeddings(step: Step, observed: dict[str, Any]) -> list[str]:
    """As client.openai_python judges it: the SDK asks for base64 and decodes it as float32; what it
    hands over must be exactly the wire's float32 values, as many as the float vector has (float64
    doubles them). Comparing with the wire's own values, not the float answer's, keeps a provider
    whose vectors vary between calls from being blamed on the SDK."""
    items = observed.get("embeddings") or []
    if not items or not isinstance(items[0], dict):
        return [f"embeddings.create returned {observed.get('data_count')} embeddings"]
    vec = _decoded_vector(observed)
    if vec is None:
        sent = (observed.get("requests") or [{}])[0].get("body")
        asked = sent.get("encoding_format") if isinstance(sent, dict) else None
        what = f"{items[0].get('type')} {excerpt(items[0].get('embedding'))}"
        return [f"the SDK's embedding (requested as {asked}) is {what}, not an array of finite numbers"]
    ref = _first_embedding(step.floats)
    if isinstance(ref, list) and len(vec) != len(ref):
        return [f"the SDK decoded {len(vec)} values from the base64 answer; the float vector has {len(ref)}"]
    wire = _first_embedding(step.exchange)
    if isinstance(wire, str):
        try:
            expected = decode_base64_f32(wire)
        except (ValueError, binascii.Error):
            return []  # undecodable base64 is judged by embeddings.base64
        if len(vec) != len(expected) or any(abs(a - b) > 1e-6 * max(1.0, abs(b)) for a, b in zip(vec, expected)):
            return ["the SDK's decoded vector differs from the wire's float32 values"]
    return []


def _first_embedding(ex: Exchange | None) -> Any:
    body: Any = ex.json_body if ex is not None else None
    try:
        return body["data"][0]["embedding"]
    except (TypeError, KeyError, IndexError):
        return None


COMPARE = {
    "create": _create,
    "create_stream": _create_stream,
    "stream_helper": _stream_helper,
    "run_tools": _run_tools,
    "embeddings": _embeddings,
}


def findings(steps: list[Step], result: dict[str, Any]) -> list[str]:
    """Every problem, one line per SDK call that went wrong ("openai-node ... on the <probe> response ...").

    Raises NoVerdict where the output says nothing about the provider (the control replay failed,
    steps missing)."""
    control = result.get("control") or {}
    sdk, node = result.get("sdk"), result.get("node")
    if not control.get("ok"):
        raise NoVerdict(f"openai-node {sdk} does not work on node {node} here (a known-good replay failed: {control.get('error')})")
    outputs = result["steps"]
    if len(outputs) != len(steps):
        raise NoVerdict(f"node replay.mjs answered {len(outputs)} of {len(steps)} steps")
    lines = []
    for step, out in zip(steps, outputs):
        where = f"the {step.probe} response ({step.label})"
        if not isinstance(out, dict) or not out.get("ok"):
            error = out.get("error") if isinstance(out, dict) else out
            lines.append(f"openai-node raised on {where}: {excerpt(error, 400)}")
            continue
        problems = COMPARE[step.call](step, out.get("observed") or {})
        if problems:
            more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
            lines.append(f"openai-node on {where}: {problems[0]}{more}")
    return lines


@check("client.openai_node")
def client_openai_node(ctx: Context) -> str | None:
    sdk_folder = ensure_node_sdk(install=True)
    if isinstance(sdk_folder, str):
        raise Skip(sdk_folder)
    steps = plan(ctx)
    if not steps:
        raise NoVerdict("no successful response to replay through the SDK")
    try:
        script = replay_script(sdk_folder)
    except OSError as exc:
        raise NoVerdict(f"could not place replay.mjs in {sdk_folder}: {exc}") from None
    result = run_replay(payload(steps), script)
    sdk, node, engines = result.get("sdk"), result.get("node"), result.get("sdk_engines")
    ctx.note(f"replayed through openai-node {sdk} on node {node} (the SDK declares node {engines})")
    if result.get("unhandled"):
        # A Node application crashes on an unhandled rejection even when it awaited the call.
        ctx.note(f"openai-node left unhandled promise rejections: {excerpt(result['unhandled'], 300)}")
    pin = pinned_version()
    if pin and sdk != pin:
        ctx.note(f"installed openai {sdk} differs from the pinned {pin}: delete {sdk_folder} to reinstall it")
    lines = findings(steps, result)
    if lines:
        for line in lines[1:10]:
            ctx.note(f"also: {line}")
        more = f" (+{len(lines) - 1} more SDK calls failed, see notes)" if len(lines) > 1 else ""
        raise Fail(lines[0] + more)
    probes = list(dict.fromkeys(s.probe for s in steps))
    return f"openai-node {sdk} (node {node}): {len(steps)} SDK calls on {len(probes)} responses passed: {', '.join(probes)}"
