"""The property runner: a check that lets Hypothesis generate its inputs, within a request budget.

Hand-written probes test what someone thought of; a property check (chat.unicode_fuzz,
tools.args_schema_fuzz, errors.param_fuzz, each in its area's module) lets Hypothesis generate the
inputs nobody hand-writes (a nested array of bounded numbers, an emoji after a combining mark,
`n: -1` with `stream: true`) and, when the provider mishandles one, shrink it to the smallest input
that still goes wrong. That minimal example is the verdict's message and evidence. A check gives
`PropertyRun.run` a strategy and a judge; the judge sends what it needs through `PropertyRun.send`
and says what one example came to: a `Judgement` with a `Verdict` (pass, fail, or unjudged).

Every run is reproducible and bounded:
- Generation is seeded (`hypothesis_seed`, `--hypothesis-seed`, default `DEFAULT_SEED`), uses no
  example database and runs only the generate and shrink phases, `hypothesis_examples` examples
  (`--hypothesis-examples`, default `DEFAULT_EXAMPLES`).
- Many property runs at once stay cheap: each strategy is validated (and Hypothesis' Unicode
  table built) once per process, under a lock, not by every thread racing to do it; and the
  threads share one PRNG registered with Hypothesis once (`_share_registered_random`), where
  Hypothesis would register a new one for each thread's first run, a full `gc.collect()` each.
- It depends on nothing but the seed. Hypothesis (6.1xx) sometimes draws a "local constant": a
  literal it harvests from the source of every non-library module loaded in the process, so the
  same seed generated different examples in the CLI, in an xdist worker and in a test, and even
  depending on which module a concurrent check had just imported. Our property runs draw only
  from Hypothesis' fixed global constants (`_pin_constants`, switched on per thread, so any other
  Hypothesis test in the same process keeps the stock behaviour).
- A check sends at most `REQUESTS_PER_EXAMPLE * examples` requests, shrinking included. Once the
  budget is spent (or the session refuses to send: circuit open, token budget spent) every
  further candidate counts as passing, so shrinking a failure on a slow or hostile provider ends
  at once instead of costing hundreds of calls.
- Each distinct example is sent once: Hypothesis' replays of an example reuse its judgement, so a
  non-deterministic provider cannot turn a failure into Hypothesis' "flaky" error.

An example the provider could not be judged on (no response, 429/5xx-unavailable after retries,
"token cap reached") is neither a pass nor a failure; if no example could be judged the check is
`error`. What does not live here: the status rules (common.py) and the strategies (each area's).

Hypothesis is run from the worker threads of `runner.run_batch`, and the batches of several
providers run at once (runner.ConcurrentBatches), so one process runs many properties at the same
time. Hypothesis documents that as supported from 6.136.9 on ("Thread-Safety Policy": separate
tests in multiple threads, and the same test in several threads, are tested in its CI); each of
our runs is a separate @given function with its own seed, no database and no shared state of
ours. tests/test_requests_once.py runs the three property checks of several providers concurrently
and asserts each verdict, message and request count equals the one from a run alone, on passing
and on failing (shrinking) providers. Older Hypothesis versions get one lock per process, so
there property runs take turns. Hypothesis is imported by the first property run, not with this
module: it costs ~0.6 s, and a run's first request should not wait for it.
"""

from __future__ import annotations

import contextlib
import enum
import json
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from conformance.checks.base import Context, Fail, NoVerdict, Outcome
from conformance.checks.common import excerpt
from conformance.transport import Exchange, Request

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

DEFAULT_EXAMPLES = 5  # --hypothesis-examples
DEFAULT_SEED = 20261125  # --hypothesis-seed
REQUESTS_PER_EXAMPLE = 4
THREAD_SAFE_HYPOTHESIS = (6, 136, 9)


@dataclass(frozen=True)
class PropertySettings:
    """How many examples a property check generates, from which seed (run options, else defaults)."""

    examples: int = DEFAULT_EXAMPLES
    seed: int = DEFAULT_SEED

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> PropertySettings:
        examples = options.get("hypothesis_examples")
        seed = options.get("hypothesis_seed")
        return cls(
            examples=max(1, int(examples)) if examples is not None else DEFAULT_EXAMPLES,
            seed=int(seed) if seed is not None else DEFAULT_SEED,
        )


class Verdict(enum.Enum):
    """What one generated example came to."""

    PASS = "pass"
    FAIL = "fail"
    UNJUDGED = "unjudged"  # no answer a verdict can be taken on (no response, busy, token cap reached)


@dataclass(frozen=True)
class Judgement:
    """One example's verdict, why (a failure or the reason it could not be judged), and its exchanges."""

    verdict: Verdict = Verdict.PASS
    message: str = ""
    exchanges: tuple[Exchange, ...] = ()


def judged(step: Callable[[], str | None], exchanges: tuple[Exchange, ...]) -> Judgement:
    """Run one judging step written with the common helpers: it returns None (pass) or a failure
    message, or raises an outcome (Fail -> fail, any other -> unjudged)."""
    try:
        failure = step()
    except Fail as outcome:
        return Judgement(Verdict.FAIL, outcome.message, exchanges)
    except Outcome as outcome:  # NoVerdict, Skip, Unsupported, any future one: never crash the property
        return Judgement(Verdict.UNJUDGED, outcome.message, exchanges)
    return Judgement(Verdict.FAIL, failure, exchanges) if failure else Judgement(exchanges=exchanges)


class _BudgetSpent(Exception):
    """Raised inside a property when the check may send no further request."""


class _Counterexample(Exception):
    def __init__(self, example: Any, judgement: Judgement) -> None:
        super().__init__(judgement.message)
        self.example = example
        self.judgement = judgement


class PropertyRun:
    """Runs one property over generated examples for one check, within a request budget."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.settings = PropertySettings.from_options(ctx.session.options)
        self.budget = self.settings.examples * REQUESTS_PER_EXAMPLE
        self.sent = 0
        self.stopped: str | None = None  # why no further request is sent (the session refused one)
        self.memo: dict[str, Judgement] = {}

    def send(self, request: Request) -> Exchange:
        """Send within the budget; a request the session refused unsent stops the run's sending."""
        if self.stopped or self.sent >= self.budget:
            raise _BudgetSpent
        self.sent += 1
        ex = self.ctx.send(request)
        if ex.refused:
            self.stopped = ex.error
            raise _BudgetSpent
        return ex

    def run(self, strategy: SearchStrategy[Any], judge: Callable[[Any], Judgement], what: str) -> str:
        """Generate, judge and shrink; raise Fail with the minimal failing example, else describe the run."""
        found, shrink_complete = self._search(strategy, judge)
        found = found or self._smallest_failure()
        stats = f"{len(self.memo)} generated examples, {self.sent} requests, seed {self.settings.seed}"
        if found is not None:
            raise self._failure(found, shrink_complete, what, stats)
        judgements = list(self.memo.values())
        unjudged = [j.message for j in judgements if j.verdict is Verdict.UNJUDGED]
        passed = len(judgements) - len(unjudged)
        if not passed:
            reason = self.stopped or (unjudged[0] if unjudged else "no example could be sent")
            raise NoVerdict(f"no generated example could be judged: {reason} ({stats})")
        if unjudged:
            self.ctx.note(f"{len(unjudged)} example(s) not judged, e.g.: {excerpt(unjudged[0], 200)}")
        return f"{passed} generated examples passed ({stats})"

    def _property(self, judge: Callable[[Any], Judgement]) -> Callable[[Any], None]:
        """The function Hypothesis calls with each example: judged once, failing by raising."""

        def prop(example: Any) -> None:
            key = _key(example)
            judgement = self.memo.get(key)
            if judgement is None:
                try:
                    judgement = judge(example)
                except _BudgetSpent:
                    return  # counts as passing: shrinking stops costing requests
                self.memo[key] = judgement
            if judgement.verdict is Verdict.FAIL:
                raise _Counterexample(example, judgement)

        return prop

    def _search(
        self, strategy: SearchStrategy[Any], judge: Callable[[Any], Judgement]
    ) -> tuple[_Counterexample | None, bool]:
        """Run Hypothesis; the counterexample it settled on (if any), and whether shrinking finished."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

        test = settings(
            max_examples=self.settings.examples,
            database=None,
            deadline=None,
            derandomize=False,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            print_blob=False,
        )(seed(self.settings.seed)(given(strategy)(self._property(judge))))
        _pin_constants()
        _ready(strategy)
        _share_registered_random()
        with _property_guard():
            _PINNED.on = True
            try:
                test()
            except _Counterexample as exc:
                return exc, True
            except Exception as exc:  # noqa: BLE001 - a Hypothesis error (flaky, health...) is not the provider's
                self.ctx.note(f"Hypothesis stopped early: {type(exc).__name__}: {excerpt(str(exc), 200)}")
                return None, False
            finally:
                _PINNED.on = False
        return None, True

    def _smallest_failure(self) -> _Counterexample | None:
        failures = [(k, j) for k, j in self.memo.items() if j.verdict is Verdict.FAIL]
        if not failures:
            return None
        key, judgement = min(failures, key=lambda kj: (len(kj[0]), kj[0]))
        return _Counterexample(json.loads(key), judgement)

    def _failure(self, found: _Counterexample, shrink_complete: bool, what: str, stats: str) -> Fail:
        self._evidence_first(found.judgement.exchanges)
        shown = excerpt(found.example, 600)
        which = "minimal" if shrink_complete else "smallest seen (shrinking aborted)"
        return Fail(
            f"{what}: {found.judgement.message}; {which} failing example: {shown} ({stats})",
            findings=[{"code": "counterexample", "example": found.example, "seed": self.settings.seed,
                       "message": found.judgement.message}],
        )

    def _evidence_first(self, exchanges: tuple[Exchange, ...]) -> None:
        """Put the failing example's exchanges first: evidence keeps only the first few."""
        used = self.ctx.used
        for ex in reversed(exchanges):
            if ex in used:
                used.remove(ex)
            used.insert(0, ex)


def _key(example: Any) -> str:
    return json.dumps(example, sort_keys=True, ensure_ascii=False, default=repr)


# --- Hypothesis, run from many threads at once, reproducibly ----------------------------------------

_TURNS = threading.Lock()  # used only with a Hypothesis older than THREAD_SAFE_HYPOTHESIS
_PINNED = threading.local()  # .on: this thread is inside one of our property runs
_pin_lock = threading.Lock()
_pinned: list[bool] = []  # [True] once Hypothesis is patched, [False] if it cannot be
_validated: set[int] = set()  # ids of the strategies validated in this process
_shared_random: list[random.Random] = []


def _pin_constants() -> bool:
    """Make our property runs draw constants from Hypothesis' global pool only (see the module
    docstring). Patches one internal method once; False (nothing patched) on a Hypothesis whose
    internals differ, where generation then still depends on the loaded modules."""
    with _pin_lock:
        if _pinned:
            return _pinned[0]
        try:
            from hypothesis.internal.conjecture import providers
            from hypothesis.internal.conjecture.choice import choice_constraints_key, choice_permitted

            provider_cls = providers.HypothesisProvider
            stock = provider_cls._maybe_draw_constant
            global_constants = providers.GLOBAL_CONSTANTS
        except (ImportError, AttributeError):
            _pinned.append(False)
            return False
        pools: dict[Any, tuple[Any, ...]] = {}

        def maybe_draw_constant(self: Any, choice_type: Any, constraints: Any, *, p: float = 0.05) -> Any:
            if not getattr(_PINNED, "on", False):
                return stock(self, choice_type, constraints, p=p)
            if self._random.random() > p:
                return None
            key = (choice_type, choice_constraints_key(choice_type, constraints))
            pool = pools.get(key)
            if pool is None:
                pool = pools[key] = tuple(
                    c for c in global_constants.set_for_type(choice_type) if choice_permitted(c, constraints)
                )
            return self._random.choice(pool) if pool else None

        provider_cls._maybe_draw_constant = maybe_draw_constant
        _pinned.append(True)
        return True


def _ready(strategy: SearchStrategy[Any]) -> None:
    """Validate a strategy once per process, under a lock: the first validation of the Unicode
    strategies builds Hypothesis' character table (~1 s of CPU), and threads starting their first
    run together would each build it."""
    if id(strategy) in _validated:
        return
    with _pin_lock:
        if id(strategy) not in _validated:
            strategy.validate()
            _validated.add(id(strategy))


def _share_registered_random() -> None:
    """Give this thread the process' one PRNG already registered with Hypothesis.

    Hypothesis (thread-safe since 6.136.9) keeps a "global" Random per thread and registers it on
    the thread's first run (entropy.deterministic_PRNG -> register_random), and register_random
    runs a full gc.collect(): 0.1-0.3 s with this process' heap, for every pool thread that runs a
    property, 60 of them for 20 providers. Our runs are seeded explicitly, so that Random only
    gets seeded and restored around each run: one shared instance serves. A Hypothesis without
    `core.threadlocal` keeps its own behaviour."""
    from hypothesis import core, register_random

    local = getattr(core, "threadlocal", None)
    if local is None or getattr(local, "_hypothesis_global_random", None) is not None:
        return
    with _pin_lock:
        if not _shared_random:
            _shared_random.append(random.Random())  # referenced before registering: not "about to be collected"
            register_random(_shared_random[0])
    local._hypothesis_global_random = _shared_random[0]


def _property_guard() -> contextlib.AbstractContextManager[Any]:
    """Nothing where Hypothesis is thread-safe; one lock per process (turns) before that."""
    from hypothesis import __version_info__

    return contextlib.nullcontext() if tuple(__version_info__) >= THREAD_SAFE_HYPOTHESIS else _TURNS
