"""`client.<library>`: the recorded responses replayed through the client libraries users build on.

One check per library of conformance/clients/libraries.yaml (LangChain, LiteLLM, Pydantic AI,
LlamaIndex, instructor, the Vercel AI SDK, the OpenAI Agents SDK, Semantic Kernel), each the same
shape as the official SDKs' checks (checks/sdk_replay.py: one plan, one set of comparators). The
library runs in its own environment (client_envs.py) as a replay worker (replay.py); each step's
recorded response is served to it by the loopback replay server, so a replay sends nothing to the
provider and costs no token. The worker's hello names the library's versions and which calls of
the plan it has.

Verdicts: `skipped` when the library is not installed (with the command that installs it),
`error` when it is installed but its worker cannot start, `fail` when a step raised, hung or handed
the application something other than what the recorded exchange holds, else `pass`.
"""

from __future__ import annotations

import functools

from conformance import client_envs, probes
from conformance.checks.base import Context, NoVerdict, Skip, check
from conformance.checks.sdk_replay import Library, ReplayRun, Step, StepResult, replay_check
from conformance.client_envs import LibrarySpec
from conformance.replay import Hello, ServedStep, Worker, WorkerError, replay_server, worker

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


def replay_steps(w: Worker, hello: Hello, steps: list[Step]) -> ReplayRun:
    """Serve each step's exchanges on the replay server while the worker makes the step's call."""
    server = replay_server()
    served = [ServedStep([s.exchange, *([s.then] if s.then is not None else [])], base64=s.base64) for s in steps]
    token = server.register(served)
    results = []
    try:
        with w.lock:
            for i, step in enumerate(steps):
                params = step.params()
                msg = w.step({"call": step.call, "base_url": server.base_url(token, i), "api_key": API_KEY,
                              "model": str(params.get("model") or ""), "request": params,
                              "tool_result": probes.TOOL_RESULT, "timeout_s": STEP_TIMEOUT_S},
                             timeout=STEP_TIMEOUT_S + HANG_GRACE_S)
                observed = msg.get("observed") if isinstance(msg.get("observed"), dict) else {}
                observed = {**observed, "requests": list(served[i].requests)}
                results.append(StepResult(bool(msg.get("ok")), None if msg.get("ok") else str(msg.get("error")), observed))
    finally:
        server.release(token)
    version = ", ".join(f"{name} {v}" for name, v in hello.versions.items())
    return ReplayRun(version, hello.runtime, tuple(results))


def library_check(spec: LibrarySpec, ctx: Context) -> str:
    w, hello = library_worker(spec)
    library = Library(name=spec.title, calls=hello.calls)
    return replay_check(ctx, library, functools.partial(replay_steps, w, hello))


for _spec in client_envs.libraries():
    check(_spec.check)(functools.partial(library_check, _spec))
