"""Which process runs which provider under pytest-xdist: whole providers, assigned at the start.

A provider's checks must run in exactly one process: its probes are cached per process, and its
limiter (`max_concurrency`, `rpm`) holds per process. xdist's own schedulers do not promise that:
`load` and `worksteal` spread one provider's cases over every worker (each then sending its own
probes: `-n 3` sent three times the requests, with three times `max_concurrency` in flight), and
`loadgroup` keeps a group together but hands a worker its next group only when the current one is
nearly done, so a worker's providers run one after another.

`ProviderScheduling` replaces them for the suite (`pytest_xdist_make_scheduler`, whatever `--dist`
load mode was asked for; `--dist each` is refused, see `distribution_problem`). It makes each
provider one work unit, deals all units out at once (longest first, to the least loaded worker),
writes each worker's share to `<out>/parts/owners-<worker>.json` before sending it any test, and
then shuts the workers' queues. A worker reads its share when its first case runs and starts all
of those providers at once (runner.ConcurrentBatches). A worker that dies is replaced by xdist;
the replacement is given what was not finished, and the records already in the part files are
not sent again (plugin.py). Other tests in the same session are dealt out the same way, each test
its own unit (or its `xdist_group`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from conformance.plan import provider_of_nodeid

SAFE_DIST = ("no", "load", "loadgroup", "loadscope", "loadfile", "worksteal")


def distribution_problem(dist: str, forked: bool = False) -> str | None:
    """Why the way tests are spread over processes cannot run the suite once (a usage error), or None."""
    if forked:  # pytest-forked: every test in a fresh fork, which would start every batch again
        return ("--forked runs each test in a fresh process, which would send every provider's requests "
                "once per test; run without it (-n N spreads providers over workers)")
    if dist in SAFE_DIST:
        return None
    return (
        f"--dist {dist} would run every provider's checks in every worker, sending each request once per "
        "worker; use -n N alone (each provider then runs in one worker, all providers at once)"
    )


def distribution_note(dist: str) -> str | None:
    """What the user should know about how their `--dist` is applied, or None."""
    if dist in ("no", "loadgroup") or dist not in SAFE_DIST:
        return None
    return (f"--dist {dist} is applied per provider: each provider's checks run in one worker "
            "(so its probes are sent once and its max_concurrency holds), all providers at once")


def owners_file(out_dir: Path, worker: str) -> Path:
    return out_dir / "parts" / f"owners-{worker}.json"


def read_owned(out_dir: Path, worker: str) -> tuple[str, ...] | None:
    """The providers the scheduler gave this worker, or None when no scheduler of ours ran."""
    try:
        data = json.loads(owners_file(out_dir, worker).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return tuple(str(p) for p in data.get("providers", ()))


def _write_owned(out_dir: Path, worker: str, providers: Sequence[str]) -> None:
    path = owners_file(out_dir, worker)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"providers": list(providers)}), encoding="utf-8")
    tmp.replace(path)


def unit_of(nodeid: str) -> str:
    """A suite case belongs to its provider; any other test is its own unit (or its xdist_group)."""
    provider = provider_of_nodeid(nodeid)
    if provider is not None:
        return f"conformance:{provider}"
    if nodeid.rfind("@") > nodeid.rfind("]"):
        return nodeid.rsplit("@", 1)[1]
    return nodeid


def make_scheduler(config: Any, log: Any, out_dir: Path) -> Any:
    """The scheduler for a run of the suite (xdist is imported only when it is in use)."""
    from xdist.scheduler import LoadScopeScheduling

    class ProviderScheduling(LoadScopeScheduling):
        """LoadScopeScheduling with providers as scopes, every unit dealt out at once."""

        def _split_scope(self, nodeid: str) -> str:
            return unit_of(nodeid)

        def schedule(self) -> None:
            if self.collection is not None:  # a node was added later (a crashed one replaced)
                for node in self.nodes:
                    self._reschedule(node)
                return
            if not self._check_nodes_have_same_collection():
                self.log("**Different tests collected, aborting run**")
                return
            self.collection = list(next(iter(self.registered_collections.values())))
            for nodeid in self.collection:
                self.workqueue.setdefault(self._split_scope(nodeid), {})[nodeid] = False
            nodes = self.nodes
            for unused in nodes[len(self.workqueue):]:  # more workers than units
                self.assigned_work.pop(unused)
                unused.shutdown()
            self._deal(self.nodes)

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if self.workqueue:
                self._deal([node])
            else:
                node.shutdown()

        def _deal(self, nodes: list[Any]) -> None:
            """Every queued unit to the least loaded node, largest first; then close the queues."""
            if not nodes:
                return
            load = {node: 0 for node in nodes}
            share: dict[Any, list[str]] = {node: [] for node in nodes}
            for scope in sorted(self.workqueue, key=lambda s: -len(self.workqueue[s])):
                node = min(nodes, key=lambda n: load[n])
                share[node].append(scope)
                load[node] += len(self.workqueue[scope])
            for node in nodes:
                providers = [s.split(":", 1)[1] for s in share[node] if s.startswith("conformance:")]
                _write_owned(out_dir, node.gateway.id, providers)  # before the worker sees a test
                index = {nodeid: i for i, nodeid in enumerate(self.registered_collections[node])}
                indices: list[int] = []
                for scope in share[node]:
                    unit = self.workqueue.pop(scope)
                    self.assigned_work[node][scope] = unit
                    indices += [index[nodeid] for nodeid, done in unit.items() if not done]
                if indices:
                    node.send_runtest_some(indices)
                node.shutdown()

    return ProviderScheduling(config, log)
