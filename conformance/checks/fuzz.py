"""Property-based checks: generated tool schemas, generated Unicode text, generated invalid requests.

Hand-written probes test what someone thought of; these three let Hypothesis generate the inputs
nobody hand-writes (a nested array of bounded numbers, an emoji after a combining mark, `n: -1`
with `stream: true`) and, when the provider mishandles one, shrink it to the smallest input that
still goes wrong. That minimal example is the verdict's message and evidence.

Every run is reproducible and bounded:
- Generation is seeded (`hypothesis_seed`, `--hypothesis-seed`), uses no example database and
  runs only the generate and shrink phases, `hypothesis_examples` examples (`--hypothesis-examples`).
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
  budget is spent (or the provider stops answering) every further candidate counts as passing, so
  shrinking a failure on a slow or hostile provider ends at once instead of costing hundreds of calls.
- Each distinct example is sent once: Hypothesis' replays of an example reuse its verdict, so a
  non-deterministic provider cannot turn a failure into Hypothesis' "flaky" error.

An example the provider could not be judged on (no response, 429/5xx-unavailable after retries,
"token cap too low") is neither a pass nor a failure; if no example could be judged the check is
`error`. What does not live here: the general status rules (common.py) and the fixed probes.

Hypothesis is run from the worker threads of `runner.run_batch`, and the batches of several
providers run at once (runner.ConcurrentBatches), so one process runs many properties at the same
time. Hypothesis documents that as supported from 6.136.9 on ("Thread-Safety Policy": separate
tests in multiple threads, and the same test in several threads, are tested in its CI); each of
our runs is a separate @given function with its own seed, no database and no shared state of
ours. tests/test_requests_once.py runs the three fuzz checks of several providers concurrently
and asserts each verdict, message and request count equals the one from a run alone, on passing
and on failing (shrinking) providers. Older Hypothesis versions get one lock per process, so
there property runs take turns.
"""

from __future__ import annotations

import contextlib
import functools
import json
import operator
import random
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from conformance.checks.base import Context, Fail, NoVerdict, Outcome, Skip, Unsupported, check
from conformance.checks.common import (
    answer_text,
    call_arguments,
    call_name,
    error_message,
    excerpt,
    finish_reason,
    is_openai_error,
    normalise,
    require_json,
    require_stream,
    stream_answer,
    tool_calls_of,
)
from conformance.providers import ModelConfig
from conformance.transport import Exchange, Request

if TYPE_CHECKING:
    from hypothesis.strategies import SearchStrategy

# Hypothesis is imported by the first property run, not with this module: it costs ~0.6 s, and
# a run's first request should not wait for it (most runs send their first fuzz request seconds
# later, and many select no fuzz check at all).

REQUESTS_PER_EXAMPLE = 4
THREAD_SAFE_HYPOTHESIS = (6, 136, 9)
_TURNS = threading.Lock()  # used only with a Hypothesis older than THREAD_SAFE_HYPOTHESIS


_PINNED = threading.local()  # .on: this thread is inside one of our property runs
_pin_lock = threading.Lock()
_pinned: list[bool] = []  # [True] once Hypothesis is patched, [False] if it cannot be


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


_validated: set[int] = set()  # ids of the strategies validated in this process
_shared_random: list[random.Random] = []


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


# --- the property runner ------------------------------------------------------------------------


class _BudgetSpent(Exception):
    """Raised inside a property when the check's request budget is used up."""


@dataclass(frozen=True)
class Judgement:
    """What one example came to: a failure message, a reason it could not be judged, or a pass."""

    failure: str | None = None
    unjudged: str | None = None
    exchanges: tuple[Exchange, ...] = ()


class _Counterexample(Exception):
    def __init__(self, example: Any, judgement: Judgement) -> None:
        super().__init__(judgement.failure)
        self.example = example
        self.judgement = judgement


class Fuzzer:
    """Runs one property over generated examples for one check, within a request budget."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.examples = max(1, int(ctx.session.options.get("hypothesis_examples", 5)))
        self.seed = int(ctx.session.options.get("hypothesis_seed", 0))
        self.budget = self.examples * REQUESTS_PER_EXAMPLE
        self.sent = 0
        self.stopped: str | None = None  # why no further request is sent (provider down)
        self.memo: dict[str, Judgement] = {}

    def send(self, request: Request) -> Exchange:
        if self.stopped or self.sent >= self.budget:
            raise _BudgetSpent
        self.sent += 1
        ex = self.ctx.send(request)
        if ex.status is None and ex.elapsed_ms == 0 and ex.error:
            # Refused by the session without a request (circuit open, token budget spent): stop.
            self.stopped = ex.error
            raise _BudgetSpent
        return ex

    def run(self, strategy: SearchStrategy[Any], judge: Callable[[Any], Judgement], what: str) -> str:
        """Generate, judge and shrink; raise Fail with the minimal failing example, else describe the run."""
        from hypothesis import HealthCheck, Phase, Verbosity, given, seed, settings

        def prop(example: Any) -> None:
            key = _key(example)
            judgement = self.memo.get(key)
            if judgement is None:
                try:
                    judgement = judge(example)
                except _BudgetSpent:
                    return  # counts as passing: shrinking stops costing requests
                self.memo[key] = judgement
            if judgement.failure:
                raise _Counterexample(example, judgement)

        test = settings(
            max_examples=self.examples,
            database=None,
            deadline=None,
            derandomize=False,
            phases=(Phase.generate, Phase.shrink),
            suppress_health_check=list(HealthCheck),
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            print_blob=False,
        )(seed(self.seed)(given(strategy)(prop)))
        found: _Counterexample | None = None
        shrink_complete = True
        _pin_constants()
        _ready(strategy)
        _share_registered_random()
        with _property_guard():
            _PINNED.on = True
            try:
                test()
            except _Counterexample as exc:
                found = exc
            except Exception as exc:  # noqa: BLE001 - a Hypothesis error (flaky, health...) is not the provider's
                self.ctx.note(f"Hypothesis stopped early: {type(exc).__name__}: {excerpt(str(exc), 200)}")
                shrink_complete = False
            finally:
                _PINNED.on = False
        if found is None:
            found = self._smallest_failure()
        judged = [j for j in self.memo.values() if not j.unjudged]
        unjudged = [j.unjudged for j in self.memo.values() if j.unjudged]
        stats = f"{len(self.memo)} generated examples, {self.sent} requests, seed {self.seed}"
        if found is not None:
            self._evidence_first(found.judgement.exchanges)
            shown = excerpt(found.example, 600)
            raise Fail(
                f"{what}: {found.judgement.failure}; "
                f"{'minimal' if shrink_complete else 'smallest seen (shrinking aborted)'} failing example: {shown} ({stats})",
                findings=[{"code": "counterexample", "example": found.example, "seed": self.seed,
                           "message": found.judgement.failure}],
            )
        if not judged:
            reason = self.stopped or (unjudged[0] if unjudged else "no example could be sent")
            raise NoVerdict(f"no generated example could be judged: {reason} ({stats})")
        if unjudged:
            self.ctx.note(f"{len(unjudged)} example(s) not judged, e.g.: {excerpt(unjudged[0], 200)}")
        return f"{len(judged)} generated examples passed ({stats})"

    def _smallest_failure(self) -> _Counterexample | None:
        failures = [(k, j) for k, j in self.memo.items() if j.failure]
        if not failures:
            return None
        key, judgement = min(failures, key=lambda kj: (len(kj[0]), kj[0]))
        return _Counterexample(json.loads(key), judgement)

    def _evidence_first(self, exchanges: tuple[Exchange, ...]) -> None:
        """Put the failing example's exchanges first: evidence keeps only the first few."""
        used = self.ctx.used
        for ex in reversed(exchanges):
            if ex in used:
                used.remove(ex)
            used.insert(0, ex)


def _key(example: Any) -> str:
    return json.dumps(example, sort_keys=True, ensure_ascii=False, default=repr)


def judged_by_common_rules(fn: Callable[[], Judgement], exchanges: tuple[Exchange, ...]) -> Judgement:
    """Run a judging step that uses the common helpers: Fail -> failure, NoVerdict/Skip -> unjudged."""
    try:
        judgement = fn()
    except Fail as outcome:
        judgement = Judgement(failure=outcome.message)
    except (NoVerdict, Skip, Unsupported) as outcome:
        judgement = Judgement(unjudged=outcome.message)
    except Outcome as outcome:  # any future outcome type: record it, never crash the property
        judgement = Judgement(unjudged=outcome.message)
    return replace(judgement, exchanges=tuple(exchanges))


# --- tools.args_schema_fuzz ------------------------------------------------------------------------

_LOWER = string.ascii_lowercase
_FORMATS = ("date", "date-time", "time", "email", "uri", "uuid", "ipv4")


def _identifier(first: str, rest: str, min_rest: int, max_rest: int) -> SearchStrategy[str]:
    """Names built from character classes, not st.from_regex: hypothesis 6.155's string shrinker
    crashes on some from_regex strategies (`ValueError: 48 is not in list`) mid-shrink."""
    from hypothesis import strategies as st

    return st.builds(operator.add, st.sampled_from(first), st.text(alphabet=rest, min_size=min_rest, max_size=max_rest))


def _bounded(kind: str, low: int, span: int) -> dict[str, Any]:
    return {"type": kind, "minimum": low, "maximum": low + span}


def _leaf_schemas() -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    return st.one_of(
        st.just({"type": "string"}),
        st.sampled_from(_FORMATS).map(lambda f: {"type": "string", "format": f}),
        st.builds(lambda lo, extra: {"type": "string", "minLength": lo, "maxLength": lo + extra},
                  st.integers(0, 4), st.integers(1, 16)),
        st.just({"type": "integer"}),
        st.builds(lambda lo, span: _bounded("integer", lo, span), st.integers(-100, 100), st.integers(0, 1000)),
        st.builds(lambda lo, span: _bounded("number", lo, span), st.integers(-50, 50), st.integers(1, 100)),
        st.just({"type": "number", "exclusiveMinimum": 0, "maximum": 1}),
        st.just({"type": "boolean"}),
        st.lists(_identifier(_LOWER, _LOWER, 0, 7), min_size=1, max_size=5, unique=True).map(
            lambda values: {"type": "string", "enum": values}
        ),
        st.lists(st.integers(-5, 50), min_size=1, max_size=4, unique=True).map(
            lambda values: {"type": "integer", "enum": values}
        ),
    )


def _object_schemas(children: SearchStrategy[dict[str, Any]]) -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    def close(props: dict[str, Any]) -> SearchStrategy[dict[str, Any]]:
        names = sorted(props)
        return st.builds(
            lambda required, closed: {
                "type": "object",
                "properties": props,
                **({"required": required} if required else {}),
                **({"additionalProperties": False} if closed else {}),
            },
            st.lists(st.sampled_from(names), unique=True, max_size=len(names)),
            st.booleans(),
        )

    name = _identifier(_LOWER, _LOWER + string.digits + "_", 0, 11)
    return st.dictionaries(name, children, min_size=1, max_size=4).flatmap(close)


def _array_schemas(children: SearchStrategy[dict[str, Any]]) -> SearchStrategy[dict[str, Any]]:
    from hypothesis import strategies as st

    return st.builds(
        lambda items, low, extra: {"type": "array", "items": items, "minItems": low, "maxItems": low + extra},
        children, st.integers(0, 2), st.integers(1, 3),
    )


@functools.cache
def tool_schemas() -> SearchStrategy[dict[str, Any]]:
    """A tool: a name, and an object schema of nested, bounded properties (built once, on first use)."""
    from hypothesis import strategies as st

    properties = st.recursive(
        _leaf_schemas(), lambda children: st.one_of(_array_schemas(children), _object_schemas(children)), max_leaves=8
    )
    return st.fixed_dictionaries(
        {"name": _identifier(_LOWER, _LOWER + "_", 2, 15), "parameters": _object_schemas(properties)}
    )


def _tool_request(model: ModelConfig, example: dict[str, Any]) -> Request:
    name = example["name"]
    tool = {
        "type": "function",
        "function": {
            "name": name,
            "description": "A test function. Call it with realistic example values for every parameter.",
            "parameters": example["parameters"],
        },
    }
    prompt = f"Call the function {name} with example arguments that are valid for its parameter schema."
    body = {
        "model": model.name,
        "messages": [{"role": "user", "content": prompt}],
        model.cap_param: max(model.token_cap, 256),
        "tools": [tool],
        "tool_choice": {"type": "function", "function": {"name": name}},
    }
    return Request("POST", "/chat/completions", json=body)


def _args_problem(body: dict[str, Any], example: dict[str, Any]) -> str | None:
    """Why the forced call's arguments are wrong, or None; NoVerdict when the token cap cut them."""
    from jsonschema import Draft202012Validator

    name = example["name"]
    calls = [c for c in tool_calls_of(body) if call_name(c) == name]
    capped = finish_reason(body) == "length"
    if not calls:
        if capped:
            raise NoVerdict("token cap too low: no tool call before finish_reason 'length' (raise token_cap)")
        others = [call_name(c) for c in tool_calls_of(body)]
        text = excerpt(answer_text(body))
        return f"tool_choice forced {name} but the answer has no call to it (calls {others}, content {text!r})"
    fn = calls[0].get("function") if isinstance(calls[0].get("function"), dict) else {}
    raw = fn.get("arguments")
    if not isinstance(raw, str):
        return f"arguments is a JSON {type(raw).__name__}, not a string: {excerpt(raw)}"
    args = call_arguments(calls[0])
    if args is None:
        if capped:
            raise NoVerdict("token cap too low: the arguments were cut by finish_reason 'length' (raise token_cap)")
        return f"arguments is not valid JSON: {excerpt(raw)!r}"
    if not isinstance(args, dict):
        return f"arguments decode to a JSON {type(args).__name__}, not an object: {excerpt(raw)!r}"
    validator = Draft202012Validator(example["parameters"], format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(args), key=lambda e: (list(e.absolute_path), e.message))
    if errors:
        where = "/" + "/".join(str(p) for p in errors[0].absolute_path)
        return f"arguments {excerpt(raw, 300)} violate the schema at {where}: {errors[0].message}"
    return None


@check("tools.args_schema_fuzz")
def tools_args_schema_fuzz(ctx: Context) -> str | None:
    model = ctx.model_for("tools")
    # A provider that refuses named tool_choice altogether is `unsupported`, judged once by the
    # (cached) tools.named probe; a clean refusal of one generated schema is a failure of that schema.
    named = ctx.probe("tools_named", model)
    if named.status is not None and 400 <= named.status < 500 and named.status != 429 and is_openai_error(named.json_body):
        raise Unsupported(f"a named tool_choice is refused cleanly: {named.status} {error_message(named)}")
    fuzzer = Fuzzer(ctx)

    def judge(example: dict[str, Any]) -> Judgement:
        ex = fuzzer.send(_tool_request(model, example))

        def verdict() -> Judgement:
            if ex.status is not None and 400 <= ex.status < 500 and ex.status != 429:
                return Judgement(failure=f"a valid parameters schema was rejected: {ex.status} {error_message(ex)}")
            return Judgement(failure=_args_problem(require_json(ex, what="a forced tool call"), example))

        return judged_by_common_rules(verdict, (ex,))

    return fuzzer.run(tool_schemas(), judge, "a forced call to a generated tool schema")


# --- chat.unicode_fuzz -------------------------------------------------------------------------------

ECHO_PROMPT = "Repeat the text between the markers exactly, without the markers: <<<{}>>>"


def _chars(low: int, high: int, categories: tuple[str, ...] | None = None) -> SearchStrategy[str]:
    from hypothesis import strategies as st

    return st.characters(min_codepoint=low, max_codepoint=high, categories=categories)


@functools.cache
def unicode_texts() -> SearchStrategy[str]:
    """Short texts mixing ASCII, astral planes, combining marks, RTL, controls and BMP scripts."""
    from hypothesis import strategies as st

    ascii_ = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCXYZ0123456789.,;:!?'\"()-_/"), min_size=1, max_size=6)
    astral = st.one_of(
        _chars(0x1F300, 0x1FAFF, ("So",)),  # pictographs, emoji
        _chars(0x1D400, 0x1D7FF, ("Lu", "Ll", "Nd")),  # mathematical alphanumerics
        _chars(0x20000, 0x2A6DF, ("Lo",)),  # CJK extension B
        _chars(0x10330, 0x1034A, ("Lo", "Nl")),  # Gothic
    )
    combining = st.builds(
        lambda base, marks: base + "".join(marks),
        st.sampled_from("aeiouyAEOnczs"),
        st.lists(_chars(0x0300, 0x036F), min_size=1, max_size=3),
    )
    rtl = st.text(st.one_of(_chars(0x05D0, 0x05EA), _chars(0x0621, 0x064A, ("Lo",))), min_size=1, max_size=6)
    control = _chars(0x01, 0x1F) | _chars(0x7F, 0x9F)  # C0 and C1 controls, never NUL
    bmp = st.one_of(_chars(0x4E00, 0x9FFF), _chars(0x0400, 0x04FF, ("Lu", "Ll")), st.sampled_from("éßçøåñü—…€£¥"))
    return st.lists(
        st.one_of(ascii_, astral, combining, rtl, control, bmp, st.just(" ")), min_size=1, max_size=12
    ).map("".join).filter(lambda s: s.strip() != "")


def _significant(text: str) -> list[str]:
    """The characters whose loss means corruption: non-ASCII, not whitespace, not control."""
    return [ch for ch in normalise(text) if ord(ch) > 127 and not ch.isspace() and not 0x80 <= ord(ch) <= 0x9F]


def _echo_problem(expected: str, received: str, capped: bool) -> str | None:
    """Why `received` is not `expected` echoed (wording tolerated: text around it, dropped controls)."""
    surrogates = [f"U+{ord(ch):04X}" for ch in received if 0xD800 <= ord(ch) <= 0xDFFF]
    if surrogates:
        return f"lone surrogate(s) {surrogates[:4]} in the text: a surrogate pair was split or mis-encoded"
    if "\ufffd" in received:
        return f"U+FFFD replacement character in the text: bytes were corrupted ({excerpt(received)!r})"
    want, got = normalise(expected), normalise(received)
    if want in got:
        return None
    wanted = _significant(want)
    kept = sum(1 for ch in wanted if ch in got)
    if not wanted or kept >= len(wanted) * 0.9:
        return None  # the model re-worded or dropped controls, but no character was corrupted
    if capped:
        raise NoVerdict("token cap too low: the echo was cut by finish_reason 'length' (raise token_cap)")
    return f"the text was not echoed intact: received {excerpt(received, 300)!r}; expected {excerpt(want, 300)!r}"


def _echo_request(model: ModelConfig, text: str, stream: bool) -> Request:
    body: dict[str, Any] = {
        "model": model.name,
        "messages": [{"role": "user", "content": ECHO_PROMPT.format(text)}],
        model.cap_param: max(model.token_cap, 192),
        "temperature": 0,
    }
    if stream:
        body["stream"] = True
    return Request("POST", "/chat/completions", json=body, stream=stream)


def _stream_capped(ex: Exchange) -> bool:
    return any(
        isinstance(c, dict) and c.get("finish_reason") == "length"
        for chunk in ex.stream.chunks for c in (chunk.get("choices") or [])
    )


@check("chat.unicode_fuzz")
def chat_unicode_fuzz(ctx: Context) -> str | None:
    model = ctx.model_for("chat")
    fuzzer = Fuzzer(ctx)

    def judge(text: str) -> Judgement:
        plain = fuzzer.send(_echo_request(model, text, stream=False))

        def plain_verdict() -> Judgement:
            if plain.ok and plain.utf8_error:
                return Judgement(failure=f"the response body is not valid UTF-8: {plain.utf8_error}")
            body = require_json(plain, what="generated Unicode text")
            problem = _echo_problem(text, answer_text(body), finish_reason(body) == "length")
            return Judgement(failure=f"not streamed: {problem}" if problem else None)

        first = judged_by_common_rules(plain_verdict, (plain,))
        if first.failure or plain.status is None:
            return first
        streamed = fuzzer.send(_echo_request(model, text, stream=True))

        def stream_verdict() -> Judgement:
            if streamed.ok and streamed.utf8_error:
                return Judgement(failure=f"the event stream is not valid UTF-8: {streamed.utf8_error}")
            stream = require_stream(streamed, what="generated Unicode text, streamed")
            problem = _echo_problem(text, stream_answer(stream), _stream_capped(streamed))
            return Judgement(failure=f"streamed: {problem}" if problem else None)

        second = judged_by_common_rules(stream_verdict, (plain, streamed))
        if second.failure or not first.unjudged:
            return second
        return Judgement(unjudged=first.unjudged, exchanges=second.exchanges)

    return fuzzer.run(unicode_texts(), judge, "generated Unicode text echoed back")


# --- errors.param_fuzz -----------------------------------------------------------------------------

# (JSON path, invalid value): each makes a valid chat request invalid under the OpenAI API
# reference (CreateChatCompletionRequest): a wrong type, a value out of its documented range,
# an unknown role, or a required member removed (value _ABSENT).
_ABSENT = "<absent>"
FIELD_MUTATIONS: tuple[tuple[str, Any], ...] = (
    ("temperature", 7),
    ("n", 0),
    ("top_p", 3),
    ("max_tokens", -5),
    ("n", -1),
    ("messages", _ABSENT),
    ("messages", "this should be a list"),
    ("messages", []),
    ("messages[0].role", "wizard"),
    ("model", _ABSENT),
    ("temperature", -1),
    ("temperature", "hot"),
    ("top_p", -0.5),
    ("n", "two"),
    ("n", 1.5),
    ("max_tokens", 0),
    ("max_tokens", "ten"),
    ("presence_penalty", 5),
    ("frequency_penalty", -3),
    ("stream", "yes"),
    ("stop", 5),
    ("model", 42),
    ("model", ["a", "b"]),
    ("messages", {"role": "user", "content": "hi"}),
    ("messages", 42),
    ("messages[0].role", ""),
    ("messages[0].role", 7),
    ("messages[0].role", _ABSENT),
    ("messages[0].content", 42),
    ("messages[0]", "hello"),
    ("tools", "get_weather"),
    ("response_format", {"type": "yaml"}),
    ("stream_options", {"include_usage": "yes"}),
)
# Bodies that are not a JSON object at all (sent as application/json).
BODY_MUTATIONS: tuple[str, ...] = ("[]", '"hello"', "42", "null", '{"model": ', "", "{}", '{"messages": [}')

@functools.cache
def invalid_requests() -> SearchStrategy[dict[str, Any]]:
    """One or two field mutations of a valid request, or a body that is no JSON object; streamed or not."""
    from hypothesis import strategies as st

    return st.one_of(
        st.fixed_dictionaries({
            "set": st.lists(st.sampled_from(FIELD_MUTATIONS), min_size=1, max_size=2, unique_by=lambda m: m[0]),
            "stream": st.booleans(),
        }),
        st.fixed_dictionaries({"body": st.sampled_from(BODY_MUTATIONS), "stream": st.booleans()}),
    )


def _invalid_request(model: ModelConfig, example: dict[str, Any]) -> Request:
    stream = bool(example.get("stream"))
    headers = {"Content-Type": "application/json"}
    if "body" in example:
        return Request("POST", "/chat/completions", raw_body=example["body"].encode("utf-8"), headers=headers,
                       stream=stream)
    body: dict[str, Any] = {
        "model": model.name,
        "messages": [{"role": "user", "content": "Say hello."}],
        "max_tokens": 16,
    }
    if stream:
        body["stream"] = True
    for path, value in example["set"]:
        _set(body, path, value)
    return Request("POST", "/chat/completions", json=body, stream=stream)


def _set(body: dict[str, Any], path: str, value: Any) -> None:
    target: Any = body
    key: Any = path
    if path.startswith("messages[0]"):
        if not isinstance(body.get("messages"), list) or not body["messages"]:
            return  # an earlier mutation replaced the messages: nothing to reach into
        target, rest = body["messages"], path[len("messages"):]
        key = 0
        if rest.startswith("[0]."):
            target, key = target[0], rest[4:]
            if not isinstance(target, dict):
                return
    if value == _ABSENT:
        if isinstance(target, dict):
            target.pop(key, None)
    else:
        target[key] = value


def _describe_invalid(example: dict[str, Any]) -> str:
    if "body" in example:
        return f"body {example['body']!r}"
    parts = [f"{p} removed" if v == _ABSENT else f"{p}={json.dumps(v)}" for p, v in example["set"]]
    return ", ".join(parts)


@check("errors.param_fuzz")
def errors_param_fuzz(ctx: Context) -> str | None:
    model = ctx.model_for("chat")
    fuzzer = Fuzzer(ctx)

    def judge(example: dict[str, Any]) -> Judgement:
        ex = fuzzer.send(_invalid_request(model, example))
        what = f"invalid request ({_describe_invalid(example)}{', streamed' if example.get('stream') else ''})"
        if ex.status is None:
            if ex.error and "timeout" in ex.error:
                return Judgement(failure=f"{what}: no answer, the request hung: {ex.error}", exchanges=(ex,))
            return Judgement(unjudged=f"no response: {ex.error}", exchanges=(ex,))
        if ex.error and "not finished" in ex.error:
            return Judgement(failure=f"{what}: {ex.status} whose body never ended: {ex.error}", exchanges=(ex,))
        if ex.status in (429, 502, 503, 504):
            return Judgement(unjudged=f"busy or unavailable ({ex.status}) after {ex.retries} retries", exchanges=(ex,))
        if 200 <= ex.status < 300:
            return Judgement(failure=f"{what} was accepted with {ex.status}: {excerpt(ex.text)!r}; expected a 4xx",
                             exchanges=(ex,))
        if ex.status >= 500:
            return Judgement(failure=f"{what} got a server error {ex.status} {error_message(ex)!r}; expected a 4xx",
                             exchanges=(ex,))
        if not 400 <= ex.status < 500:
            return Judgement(failure=f"{what} got {ex.status}; expected a 4xx", exchanges=(ex,))
        if not is_openai_error(ex.json_body):
            return Judgement(
                failure=f"{what} got {ex.status} without an OpenAI-shaped error body: {excerpt(ex.text)!r}",
                exchanges=(ex,),
            )
        return Judgement(exchanges=(ex,))

    return fuzzer.run(invalid_requests(), judge, "generated invalid requests must get an OpenAI-shaped 4xx")
