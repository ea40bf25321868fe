"""Gating adoption: does each provider meet a policy (a named set of checks)?

What lives here: the built-in policies, resolving a policy (user policies from providers.yaml
`policies:` override built-ins of the same name; `extends:` inherits), per-provider adopt/reject
with the failing checks, the exit code for CI, and a router fallback chain of adopted providers.
What does not: loading providers.yaml (providers.py) or printing (the CLI prints `to_text()`).

Which checks a policy selects: the catalog checks in `areas` (all areas if absent) at `levels`
(default `must`), plus `checks`, minus `exclude`. With none of areas/levels/checks/clients:
every `must` check.

`clients: [langchain, vercel_ai]` requires client libraries: names as in
conformance/clients/libraries.yaml (plus `openai_python` and `openai_node`, the official SDKs),
or their check ids (`client.langchain`). The provider is rejected unless each listed library's
client check passes on every model it ran for: a `skipped` check (the library is not installed
where the suite ran) is not verified and rejects, with the command that installs it; `expect:`
and `allow_expected` do not excuse a broken library. An unknown name is a ValueError naming the
known ones. `clients` adds up along `extends`, like `checks`. A policy with only `clients`
selects only those client checks.

Per selected check and provider, a result is accepted when it is `pass`; `unsupported` on a `may`
check (a clean refusal of an optional feature); or, when the policy says `allow_expected: true`
(default false), the status declared in `expect:`. Anything else rejects the provider, including
`skipped` (a capability the policy needs is not configured) and a missing result. A provider
skipped as a whole (no key, unreachable) is "not evaluated", never adopted.

Exit code: non-zero when a provider the policy lists in `providers` is not adopted (rejected,
not evaluated, or absent from the run); with no `providers` list, non-zero when no provider is
adopted.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import yaml

from conformance import client_impact
from conformance.report.clients import library_verdict
from conformance.report.scores import by_provider, level_scores, median_latency_ms, one_line, provider_skipped
from conformance.results import CheckResult, Level, RunResults, Status

ADOPT, REJECT, NOT_EVALUATED = "adopt", "reject", "not evaluated"
_ADDITIVE = ("checks", "exclude", "clients")  # list keys that accumulate along `extends`

BUILTIN_POLICIES: dict[str, dict[str, Any]] = {
    "chat": {
        "description": "Chat completions for applications: every must of chat, streaming, usage and errors.",
        "areas": ["chat", "stream", "usage", "errors"],
        "levels": ["must"],
        "exclude": ["usage.embeddings"],
        "allow_expected": False,
    },
    "agentic": {
        "description": "Agent loops: the chat musts plus tool calling, including streamed tool calls.",
        "areas": ["chat", "tools"],
        "levels": ["must"],
        "checks": ["tools.stream_deltas"],
        "allow_expected": False,
    },
    "agents": {
        "description": "Agents on the Responses API: its must and should checks (function calls and their outputs, typed streaming, instructions, structured output) plus chat.basic and stream.framing.",
        "areas": ["responses"],
        "levels": ["must", "should"],
        "checks": ["chat.basic", "stream.framing"],
        "allow_expected": False,
    },
    "vision": {
        "description": "Image input: every vision check (image_url PNG and JPEG data URLs, input_image in /responses) plus chat.basic.",
        "areas": ["vision"],
        "levels": ["must", "should", "may"],
        "checks": ["chat.basic"],
        "allow_expected": False,
    },
    "rag": {
        "description": "Retrieval: the embeddings musts and usage reported for embeddings.",
        "areas": ["embeddings"],
        "levels": ["must"],
        "checks": ["usage.embeddings"],
        "allow_expected": False,
    },
    "sdks": {
        "description": "The official SDKs read every replayed answer: openai-python and openai-node (extend it with clients: [langchain, ...] for your stack).",
        "clients": ["openai_python", "openai_node"],
        "allow_expected": False,
    },
}


@dataclass(frozen=True)
class GateItem:
    """One result that decided (or was accepted by) a verdict."""

    check: str
    model: str | None
    level: str
    status: str  # a Status value, or "missing"
    message: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ProviderVerdict:
    provider: str
    verdict: str  # adopt | reject | not evaluated
    required: bool
    reason: str = ""
    failing: tuple[GateItem, ...] = ()
    accepted: tuple[GateItem, ...] = ()  # not passing but allowed (may-unsupported, expected)
    must_share: float | None = None
    median_latency_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "verdict": self.verdict,
            "required": self.required,
            "reason": self.reason,
            "failing": [i.to_dict() for i in self.failing],
            "accepted": [i.to_dict() for i in self.accepted],
            "must_share": self.must_share,
            "median_latency_ms": self.median_latency_ms,
        }


@dataclass(frozen=True)
class GateResult:
    policy_name: str
    policy: dict[str, Any]
    checks: tuple[str, ...]
    verdicts: tuple[ProviderVerdict, ...]
    required: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default_factory=tuple)
    clients: tuple[str, ...] = ()  # the client checks `clients:` requires

    @property
    def adopted(self) -> tuple[str, ...]:
        return tuple(v.provider for v in self.verdicts if v.verdict == ADOPT)

    @property
    def blocking(self) -> tuple[str, ...]:
        """Why the gate fails, one line per reason (empty when it passes)."""
        if self.required:
            verdicts = {v.provider: v for v in self.verdicts}
            out = []
            for name in self.required:
                v = verdicts.get(name)
                if v is None:
                    out.append(f"required provider {name} is not in this run")
                elif v.verdict != ADOPT:
                    out.append(f"required provider {name}: {v.verdict}")
            return tuple(out)
        return () if self.adopted else ("no provider meets the policy",)

    @property
    def exit_code(self) -> int:
        return 1 if self.blocking else 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy_name,
            "definition": self.policy,
            "checks": list(self.checks),
            "required": list(self.required),
            "clients": list(self.clients),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "adopted": list(self.adopted),
            "blocking": list(self.blocking),
            "exit_code": self.exit_code,
            "notes": list(self.notes),
        }

    def to_text(self) -> str:
        desc = self.policy.get("description")
        lines = [f'Policy "{self.policy_name}"' + (f": {desc}" if desc else "")]
        lines.append(
            f"{len(self.checks)} checks; expected failures {'allowed' if self.policy.get('allow_expected') else 'not allowed'}"
            + (f"; required providers: {', '.join(self.required)}" if self.required else "")
            + (f"; required client libraries: {', '.join(_client_name(c) for c in self.clients)}" if self.clients else "")
        )
        lines += [f"note: {n}" for n in self.notes]
        lines.append("")
        for v in self.verdicts:
            tag = "REQUIRED " if v.required else ""
            share = "n/a" if v.must_share is None else f"{v.must_share * 100:.0f}%"
            latency = "" if v.median_latency_ms is None else f", median latency {v.median_latency_ms:.0f} ms"
            if v.verdict == NOT_EVALUATED:
                lines.append(f"{'NOT EVALUATED':13} {tag}{v.provider}: {v.reason}")
                continue
            lines.append(f"{v.verdict.upper():13} {tag}{v.provider} (must passed {share}{latency})")
            for item in v.failing:
                where = f" [{item.model}]" if item.model else ""
                why = f" — {item.note}" if item.note else ""
                lines.append(f"    ✗ {item.check} ({item.level}){where}: {item.status}{why}: {one_line(item.message, 160)}")
            for item in v.accepted:
                where = f" [{item.model}]" if item.model else ""
                lines.append(f"    ~ {item.check} ({item.level}){where}: {item.status}, accepted ({item.note})")
        lines.append("")
        if self.blocking:
            lines.append("GATE FAILED (exit 1): " + "; ".join(self.blocking))
        else:
            lines.append(f"GATE PASSED: adopted {', '.join(self.adopted)}")
        return "\n".join(lines) + "\n"


def resolve_policy(name: str, policies: dict[str, Any] | None = None) -> dict[str, Any]:
    """The policy definition: user policies first, then built-ins; `extends` merged in.

    The child's keys win, except `checks` and `exclude`, which add up along the chain (extending
    `chat` with `exclude: [chat.basic]` keeps chat's own exclusions). A user policy may extend the
    built-in of its own name (`chat: {extends: chat, providers: [...]}`).
    """
    user = dict(policies or {})
    merged: dict[str, Any] = {}
    seen: list[tuple[str, bool]] = []
    current: str | None = name
    use_user = True
    while current is not None:
        if (current, use_user) in seen:
            raise ValueError(f"policy {name!r}: `extends` loops ({' -> '.join(n for n, _ in seen)} -> {current})")
        seen.append((current, use_user))
        from_user = use_user and current in user
        if from_user:
            definition = dict(user[current])
        elif current in BUILTIN_POLICIES:
            definition = dict(BUILTIN_POLICIES[current])
        else:
            known = ", ".join(sorted({*user, *BUILTIN_POLICIES}))
            raise ValueError(f"unknown policy {current!r}; known: {known}")
        for k in _ADDITIVE:
            if isinstance(definition.get(k), str):
                raise ValueError(f"policy {current!r}: `{k}` must be a list, e.g. [{definition[k]}]")
        additive = {
            k: list(dict.fromkeys([*definition.get(k, ()), *merged.get(k, ())]))
            for k in _ADDITIVE
            if k in definition or k in merged
        }
        merged = {**definition, **merged, **additive}
        parent = definition.get("extends")
        use_user = not (from_user and parent == current)
        current = parent
    merged.pop("extends", None)
    return merged


def select_checks(policy: dict[str, Any], run: RunResults) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(check ids the policy selects, notes about ids it names that this run does not know)."""
    catalog = {cid: (entry.area, entry.level.value) for cid, entry in run.catalog.items()}
    for r in run.results:
        catalog.setdefault(r.check, (r.area, r.level.value))
    areas, levels, explicit = policy.get("areas"), policy.get("levels"), list(policy.get("checks") or ())
    exclude = set(policy.get("exclude") or ())
    if areas or levels or not (explicit or policy.get("clients")):
        wanted_levels = set(levels or [Level.MUST.value])
        base = [
            cid for cid, (area, level) in catalog.items() if (not areas or area in areas) and level in wanted_levels
        ]
    else:
        base = []
    selected = [cid for cid in dict.fromkeys(base + explicit) if cid not in exclude]
    unknown = [cid for cid in dict.fromkeys(explicit + sorted(exclude)) if cid not in catalog]
    notes = tuple(f"the policy names {cid}, which this run's catalog does not have" for cid in unknown)
    return tuple(selected), notes


def evaluate_policy(run: RunResults, policy_name: str, policies: dict[str, Any] | None = None) -> GateResult:
    """Adopt or reject each provider of `run` under policy `policy_name`."""
    policy = resolve_policy(policy_name, policies)
    clients = client_checks(policy.get("clients"), run, f"policy {policy_name!r}")
    checks, notes = select_checks(policy, run)
    judged = tuple(c for c in checks if c not in clients)  # a required library is judged strictly
    allow_expected = bool(policy.get("allow_expected", False))
    required = tuple(str(p) for p in policy.get("providers") or ())
    grouped = by_provider(run)
    verdicts = []
    for name, results in grouped.items():
        skipped = provider_skipped(run.provider(name), results)
        must = level_scores(results)["must"].share
        latency = median_latency_ms(results)
        if skipped:
            verdicts.append(
                ProviderVerdict(
                    name, NOT_EVALUATED, name in required, skipped, must_share=must, median_latency_ms=latency
                )
            )
            continue
        failing, accepted = _judge(results, judged, run, allow_expected)
        failing += _judge_clients(results, clients, run)
        verdict = REJECT if failing else ADOPT
        reason = f"{len(failing)} selected check(s) not passing" if failing else "every selected check passes"
        verdicts.append(
            ProviderVerdict(name, verdict, name in required, reason, tuple(failing), tuple(accepted), must, latency)
        )
    if required:
        order = {n: i for i, n in enumerate(required)}
        verdicts.sort(key=lambda v: (v.provider not in order, order.get(v.provider, 0)))
    return GateResult(policy_name, policy, tuple(dict.fromkeys(judged + clients)), tuple(verdicts), required, notes,
                      clients)


def client_checks(names: Any, run: RunResults | None = None, where: str = "policy") -> tuple[str, ...]:
    """The client check ids a policy's `clients:` names (library names or check ids), in order.

    Known: the suite's client checks (client_impact.client_checks) and any client check `run` has.
    ValueError when `names` is not a list of strings or names an unknown library."""
    if names is None:
        return ()
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where}: `clients` must be a list of client library names, e.g. [langchain, vercel_ai]")
    known = list(client_impact.client_checks())
    if run is not None:
        known += [cid for cid, e in run.catalog.items() if e.area == "client"]
        known += [r.check for r in run.results if r.area == "client"]
    known = list(dict.fromkeys(known))
    out = []
    for name in names:
        check = name if name in known else f"client.{name}"
        if check not in known:
            choices = [_client_name(c) for c in known]
            close = difflib.get_close_matches(name.removeprefix("client."), choices, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"{where}: unknown client library {name!r} in `clients`; {hint}known: {', '.join(choices)}")
        out.append(check)
    return tuple(dict.fromkeys(out))


def _client_name(check: str) -> str:
    """The name a policy uses for a client check: client.langchain -> langchain."""
    return check.removeprefix("client.")


def _judge_clients(results: list[CheckResult], clients: tuple[str, ...], run: RunResults) -> list[GateItem]:
    """The required client checks that do not pass: anything but `pass` rejects, skipped included."""
    titles = client_impact.titles()
    failing: list[GateItem] = []
    for cid in clients:
        title = titles.get(cid, _client_name(cid))
        found = [r for r in results if r.check == cid]
        if not found:
            level = run.catalog[cid].level.value if cid in run.catalog else "?"
            failing.append(GateItem(cid, None, level, "missing", "no result for this client check in the run",
                                    f"{title} not verified: run the suite with {cid}"))
        for r in found:
            if r.status is not Status.PASS:
                failing.append(GateItem(r.check, r.model, r.level.value, r.status.value, r.message,
                                        _client_note(r, title)))
    return failing


def _client_note(r: CheckResult, title: str) -> str:
    """Why a required library's result rejects the provider."""
    if r.status is Status.SKIPPED:
        install = library_verdict(r).install
        if install:
            return f"{title} is required by the policy but was not verified: install it (`{install}`) and run again"
        return f"{title} is required by the policy but was not verified (skipped)"
    if r.status is Status.ERROR:
        return f"{title} is required by the policy; its replay reached no verdict"
    return f"{title} is required by the policy and breaks on this provider"


def _judge(
    results: list[CheckResult], checks: tuple[str, ...], run: RunResults, allow_expected: bool
) -> tuple[list[GateItem], list[GateItem]]:
    by_check: dict[str, list[CheckResult]] = {}
    for r in results:
        by_check.setdefault(r.check, []).append(r)
    failing: list[GateItem] = []
    accepted: list[GateItem] = []
    for cid in checks:
        found = by_check.get(cid)
        if not found:
            level = run.catalog[cid].level.value if cid in run.catalog else "?"
            failing.append(GateItem(cid, None, level, "missing", "no result for this check in the run"))
            continue
        for r in found:
            item = GateItem(r.check, r.model, r.level.value, r.status.value, r.message)
            if r.status is Status.PASS:
                continue
            if r.status is Status.UNSUPPORTED and r.level is Level.MAY:
                accepted.append(_with_note(item, "optional feature, cleanly refused"))
            elif r.as_expected and allow_expected:
                accepted.append(_with_note(item, f"expected: {r.expected.reason if r.expected else ''}".rstrip(": ")))
            elif r.as_expected:
                failing.append(
                    _with_note(item, "a known gap (expect:), and the policy does not allow expected failures")
                )
            else:
                failing.append(item)
    return failing, accepted


def _with_note(item: GateItem, note: str) -> GateItem:
    return GateItem(item.check, item.model, item.level, item.status, item.message, note)


def fallback_chain(gate: GateResult, run: RunResults) -> str:
    """YAML for a router's fallback chain: adopted providers, best first.

    Ranked by the share of all `must` checks passed (not only the policy's), then by median
    latency (faster first), then by name. Provider names and URLs are quoted by the YAML dumper.
    """
    adopted = [v for v in gate.verdicts if v.verdict == ADOPT]
    adopted.sort(
        key=lambda v: (
            -(v.must_share if v.must_share is not None else -1.0),
            v.median_latency_ms if v.median_latency_ms is not None else float("inf"),
            v.provider,
        )
    )
    chain = []
    for v in adopted:
        entry = run.provider(v.provider)
        chain.append(
            {
                "provider": v.provider,
                "base_url": entry.base_url if entry else None,
                "models": {cap: list(names) for cap, names in entry.models.items()} if entry else {},
                "must_pass_share": None if v.must_share is None else round(v.must_share, 4),
                "median_latency_ms": v.median_latency_ms,
            }
        )
    header = (
        f"# Fallback chain for policy {one_line(gate.policy_name, 60)!r} from the run started "
        f"{one_line(run.run.started_at, 40)} (suite {one_line(run.run.suite_version or '?', 40)}, "
        f"catalog {one_line(run.run.catalog_version or '?', 20)}).\n"
        "# Adopted providers, best first: share of must checks passed, then median latency.\n"
    )
    body = yaml.safe_dump(
        {"policy": gate.policy_name, "run": run.run.started_at, "fallbacks": chain},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
    return header + body
