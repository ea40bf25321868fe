"""The check machinery: registration, typed outcomes, the per-check context, and running one check.

A check is a small function `fn(ctx) -> str | None` registered with `@check("area.name")`; the id
must exist in the catalog. It passes by returning (optionally a message) and decides every other
verdict by raising a typed outcome: `Fail`, `Unsupported`, `Skip` or `NoVerdict` (status `error`),
each carrying a "received … / expected …" message and its evidence. All checks run; nothing
fails fast. Requests go through probes (cached per provider and model, so one streamed answer
feeds every stream check) or `ctx.send` for one-off requests.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from conformance.catalog import CheckSpec, load_catalog
from conformance.probes import PROBES
from conformance.providers import ModelConfig, Provider
from conformance.redact import Redactor
from conformance.results import CheckResult, Evidence, Finding, Status, Tokens
from conformance.schemas import SchemaError
from conformance.transport import Exchange, ProviderClient, Request, RetryPolicy


class Outcome(Exception):
    """A verdict other than pass, raised by a check."""

    status: Status = Status.ERROR

    def __init__(
        self,
        message: str,
        *,
        schema_errors: Iterable[SchemaError] = (),
        findings: Iterable[Any] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.schema_errors = tuple(schema_errors)
        self.findings = tuple(findings)


class Fail(Outcome):
    """The provider did something non-conformant."""

    status = Status.FAIL


class Unsupported(Outcome):
    """The provider cleanly refused an optional feature (4xx with an OpenAI-shaped error body)."""

    status = Status.UNSUPPORTED


class Skip(Outcome):
    """The check does not apply (not configured, no key, unreachable)."""

    status = Status.SKIPPED


class NoVerdict(Outcome):
    """No verdict could be reached (network, timeout, rate limit, token cap reached)."""

    status = Status.ERROR


CheckFn = Callable[["Context"], "str | None"]
REGISTRY: dict[str, CheckFn] = {}


def check(check_id: str) -> Callable[[CheckFn], CheckFn]:
    """Register a check function under its catalog id."""

    def register(fn: CheckFn) -> CheckFn:
        if check_id not in load_catalog():
            raise ValueError(f"@check({check_id!r}): not in catalog.yaml")
        if check_id in REGISTRY:
            raise ValueError(f"@check({check_id!r}) registered twice")
        REGISTRY[check_id] = fn
        return fn

    return register


BREAKER_THRESHOLD = 3


class Session:
    """Per-process state for one provider: its recording client, the probe cache, the circuit
    breaker (after consecutive transport failures the provider is treated as down and the rest of
    its requests end at once as `error`) and the token budget (`budget_tokens`). `retry` is the
    retry policy of the client it builds (a given `client` has its own)."""

    def __init__(
        self,
        provider: Provider,
        client: ProviderClient | None = None,
        options: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.provider = provider
        self.client = client or ProviderClient(provider, retry=retry)
        # Run-wide settings checks may read: hypothesis_examples, hypothesis_seed (defaults: checks/property.py).
        self.options: dict[str, Any] = dict(options or {})
        self._cache: dict[tuple[str, str, int], Exchange] = {}
        self._locks: dict[tuple[str, str, int], threading.Lock] = {}
        self._guard = threading.Lock()
        self.consecutive_failures = 0
        self.down_reason: str | None = None
        self.tokens = Tokens()

    def probe(self, name: str, model: ModelConfig, repeat: int = 0) -> tuple[Exchange, bool]:
        """The exchange for probe `name` on `model` (one per repeat), sent once; returns (exchange, sent_now)."""
        key = (model.name, name, repeat)
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            if key in self._cache:
                return self._cache[key], False
            ex = self.send(PROBES[name](model))
            self._cache[key] = ex
            return ex, True

    def send(self, request: Request) -> Exchange:
        """Send unless the breaker is open or the budget is spent; account tokens and failures."""
        # Refused unsent, an exchange is not a provider failure (it still carries the request and its curl).
        return self.client.send(request, gate=self._refusal, settle=self._settle)

    def _settle(self, ex: Exchange) -> None:
        """Count a finished exchange (in its limiter slot: the next queued request sees the breaker)."""
        with self._guard:
            if ex.status is None:
                self.consecutive_failures += 1
                if self.consecutive_failures >= BREAKER_THRESHOLD and self.down_reason is None:
                    self.down_reason = f"{self.consecutive_failures} consecutive requests failed (last: {ex.error})"
            else:
                self.consecutive_failures = 0
            self.tokens = self.tokens + _tokens([ex])

    def _refusal(self) -> str | None:
        if self.down_reason:
            return f"circuit open, provider treated as down: {self.down_reason}"
        budget = self.provider.budget_tokens
        if budget and self.tokens.total >= budget:
            return f"token budget exhausted: {self.tokens.total} of budget_tokens {budget} spent"
        return None

    def close(self) -> None:
        self.client.close()


@dataclass
class Context:
    """What a check sees: the provider, the model under test, and a way to get exchanges."""

    session: Session
    spec: CheckSpec
    model: ModelConfig | None
    repeat: int = 0
    used: list[Exchange] = field(default_factory=list)
    sent: list[Exchange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)

    @property
    def provider(self) -> Provider:
        return self.session.provider

    def model_for(self, capability: str) -> ModelConfig:
        """The model a capability uses: the check's own model if it serves it, else the first configured."""
        configs = self.provider.model_configs(capability)
        if self.model is not None and any(c.name == self.model.name for c in configs):
            return self.model
        if not configs:
            raise Skip(f"no {capability} model configured for {self.provider.name}")
        return configs[0]

    def probe(self, name: str, model: ModelConfig | None = None) -> Exchange:
        model = model or self.model
        if model is None:
            raise NoVerdict(f"probe {name!r} needs a model")
        ex, sent_now = self.session.probe(name, model, self.repeat)
        self._use(ex, sent_now)
        return ex

    def send(self, request: Request) -> Exchange:
        ex = self.session.send(request)
        self._use(ex, True)
        return ex

    def note(self, text: str) -> None:
        self.notes.append(text)

    def _use(self, ex: Exchange, sent_now: bool) -> None:
        if ex not in self.used:
            self.used.append(ex)
        if sent_now:
            self.sent.append(ex)


def run_check(
    session: Session, spec: CheckSpec, model: ModelConfig | None, skip: str | None = None, repeat: int = 0
) -> CheckResult:
    """Run one check and turn whatever happens into a CheckResult; never raises."""
    ctx = Context(session=session, spec=spec, model=model, repeat=repeat)
    start = time.perf_counter()
    status, message, outcome = _verdict(ctx, skip)
    redactor = session.client.redactor
    return CheckResult(
        provider=session.provider.name,
        model=model.name if model else None,
        check=spec.id,
        area=spec.area,
        level=spec.level,
        kind=spec.kind,
        status=status,
        message=redactor.text(message),
        duration_ms=round((time.perf_counter() - start) * 1000, 1),
        tokens=_tokens(ctx.sent),
        requests=len(ctx.sent),
        retries=sum(ex.retries for ex in ctx.sent),
        expected=session.provider.expect.get(spec.id),
        evidence=_evidence(ctx, outcome, redactor),
        metrics=ctx.metrics or _metrics(ctx.used),
    )


def _verdict(ctx: Context, skip: str | None) -> tuple[Status, str, Outcome | None]:
    """Status and message of running the check (or of skipping it), and the outcome it raised."""
    if skip:
        return Status.SKIPPED, skip, None
    try:
        return Status.PASS, REGISTRY[ctx.spec.id](ctx) or "", None
    except Outcome as outcome:
        return outcome.status, outcome.message, outcome
    except Exception as exc:  # a bug in a check must not end the run; it is reported as error
        tb = traceback.format_exception_only(type(exc), exc)[-1].strip()
        return Status.ERROR, f"internal error in check {ctx.spec.id}: {tb}", None


def _evidence(ctx: Context, outcome: Outcome | None, redactor: Redactor) -> Evidence:
    """What the verdict keeps, redacted: the first exchanges used, schema errors, findings, notes."""
    schema_errors = outcome.schema_errors if outcome else ()
    findings = outcome.findings if outcome else ()
    return Evidence(
        exchanges=tuple(ex.evidence(redactor) for ex in ctx.used[:6]),
        schema_errors=tuple(_redacted(e, redactor) for e in schema_errors[:20]),
        findings=tuple(_redacted(_finding(f), redactor) for f in findings[:30]),
        notes=tuple(redactor.text(n) for n in ctx.notes),
    )


def _finding(f: Any) -> Finding:
    """A finding as evidence: a Finding, or one in its JSON form (a fuzz check's counterexample)."""
    if isinstance(f, Finding):
        return f
    try:
        return Finding.from_dict(dict(f))
    except (TypeError, ValueError):
        return Finding(code="", message=str(f)[:2000])


def _redacted(record: Any, redactor: Redactor) -> Any:
    """`record` (a Finding or a SchemaError) with every string in it redacted."""
    return type(record).from_dict(redactor.value(record.to_dict()))


def _metrics(exchanges: list[Exchange]) -> dict[str, float]:
    if not exchanges:
        return {}
    ex = exchanges[0]
    out: dict[str, float] = {"latency_ms": round(ex.elapsed_ms, 1)}
    if ex.stream_requested and ex.ttfb_ms is not None:
        out["ttft_ms"] = round(ex.ttfb_ms, 1)
        out["chunks"] = float(len(ex.stream.chunks))
    return out


def _tokens(exchanges: list[Exchange]) -> Tokens:
    """Tokens spent by the requests this check sent: reported usage, else an estimate (marked)."""
    total = Tokens()
    for ex in exchanges:
        usage = None
        body = ex.json_body
        if isinstance(body, dict):
            usage = body.get("usage")
        elif ex.stream_requested and ex.ok:
            chunks = ex.stream.usage_chunks()
            usage = chunks[-1].get("usage") if chunks else None
        if isinstance(usage, dict) and all(isinstance(usage.get(k, 0), int) for k in ("prompt_tokens", "completion_tokens")):
            p, c = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
            reported = usage.get("total_tokens")  # may be any JSON value: only an integer is taken
            total = total + Tokens(p, c, reported if type(reported) is int and reported else p + c)
        elif ex.status is not None and 200 <= ex.status < 300:
            # No usage reported: estimate ~4 bytes per token for what went in and came out.
            p = len(str(ex.request_body)) // 4
            c = len(ex.body) // 4 if not ex.stream_requested else len("".join(ex.stream.text(0))) // 4
            total = total + Tokens(p, c, p + c, estimated=True)
    return total
