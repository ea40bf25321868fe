"""`client.<library>`: the recorded responses replayed through the client libraries users build on.

One check per library of conformance/clients/libraries.yaml (LangChain, LiteLLM, Pydantic AI,
LlamaIndex, instructor, the Vercel AI SDK, the OpenAI Agents SDK, Semantic Kernel), each the same
shape as the official SDKs' checks (checks/sdk_replay.py: one plan, one set of comparators). The
library runs in its own environment (client_envs.py) as a replay worker (replay.py); each step's
recorded response is served to it by its loopback replay server (at the provider's own base path), so a replay sends nothing to the
provider and costs no token. The worker's hello names the library's versions and which calls of
the plan it has.

Verdicts: `skipped` when the library is not installed (with the command that installs it),
`error` when it is installed but its worker cannot start, `fail` when a step raised, hung or handed
the application something other than what the recorded exchange holds, else `pass`.
"""

from __future__ import annotations

import functools
from urllib.parse import urlsplit

from conformance import client_envs, probes
from conformance.checks.base import Context, NoVerdict, Skip, check
from conformance.checks.sdk_replay import Library, ReplayRun, Step, StepResult, replay_check
from conformance.client_envs import LibrarySpec
from conformance.replay import Hello, ReplayServer, ServedStep, Worker, WorkerError, replay_server, worker

STEP_TIMEOUT_S = 15.0  # what the library is told; the worker gets this plus HANG_GRACE_S to answer
HANG_GRACE_S = 15.0
API_KEY = "replay-key"


def library_worker(spec: LibrarySpec) -> tuple[Worker, Hello]:
    """The library's running worker and its hello; Skip when it is not installed, NoVerdict when
    it is but cannot start."""
    if client_envs.installed(spec) is None:
        raise Skip(f"{spec.title} is not installed: run `{spec.install_command}`")
    env = client_envs.env_dir(spec)
    client_envs.sync_script(spec, env)
    w = worker(spec.name, client_envs.worker_argv(spec, env), env)
    try:
        with w.lock:
            return w, w.hello()
    except WorkerError as exc:
        raise NoVerdict(f"{spec.title} is installed in {env} but its replay worker does not start: {exc}") from None


def replay_steps(w: Worker, hello: Hello, server: ReplayServer, base_path: str, steps: list[Step]) -> ReplayRun:
    """Serve each step's exchanges on the library's replay server while its worker makes the call."""
    results = []
    with w.lock:
        for step in steps:
            params = step.params()
            served = ServedStep([step.exchange, *([step.then] if step.then is not None else [])], base64=step.base64,
                                base_path=base_path)
            with server.serving(served):
                msg = w.step({"call": step.call, "base_url": server.base_url(base_path), "api_key": API_KEY,
                              "model": str(params.get("model") or ""), "request": params,
                              "tool_result": probes.TOOL_RESULT, "timeout_s": STEP_TIMEOUT_S},
                             timeout=STEP_TIMEOUT_S + HANG_GRACE_S)
            observed = msg.get("observed") if isinstance(msg.get("observed"), dict) else {}
            observed = {**observed, "requests": list(served.requests)}
            results.append(StepResult(bool(msg.get("ok")), None if msg.get("ok") else str(msg.get("error")), observed))
    version = ", ".join(f"{name} {v}" for name, v in hello.versions.items())
    return ReplayRun(version, hello.runtime, tuple(results))


def library_check(spec: LibrarySpec, ctx: Context) -> str:
    w, hello = library_worker(spec)
    library = Library(name=spec.title, calls=hello.calls)
    base_path = urlsplit(ctx.provider.base_url).path or "/v1"
    return replay_check(ctx, library, functools.partial(replay_steps, w, hello, replay_server(spec.name), base_path))


for _spec in client_envs.libraries():
    check(_spec.check)(functools.partial(library_check, _spec))
