"""Which checks run for a provider, and running them without pytest.

`cases()` is the one place that expands providers x models x checks; the pytest plugin
parametrizes from it and `run_provider()` (used by our own tests, benchmarks and the quirk table)
runs the same cases in-process.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import httpx

from conformance.catalog import CheckSpec, load_catalog
from conformance.checks import Session, run_check
from conformance.providers import ModelConfig, Provider, skip_reason
from conformance.results import CheckResult


@dataclass(frozen=True)
class Case:
    """One provider x model x check to run."""

    provider: str
    model: ModelConfig | None
    spec: CheckSpec
    not_configured: str | None = None

    @property
    def id(self) -> str:
        return f"{self.provider}:{self.model.name}:{self.spec.id}" if self.model else f"{self.provider}:{self.spec.id}"


def cases(provider: Provider, check_ids: Iterable[str] | None = None, areas: Iterable[str] | None = None) -> list[Case]:
    """Every check for every configured model of the capability it needs; unconfigured -> skipped."""
    wanted = set(check_ids) if check_ids else None
    area_set = set(areas) if areas else None
    out: list[Case] = []
    for spec in load_catalog().checks:
        if wanted is not None and spec.id not in wanted:
            continue
        if area_set is not None and spec.area not in area_set:
            continue
        if spec.needs == "provider":
            out.append(Case(provider.name, None, spec))
            continue
        configs = provider.model_configs(spec.needs)
        if not configs:
            out.append(Case(provider.name, None, spec, f"no {spec.needs} model configured"))
        out.extend(Case(provider.name, m, spec) for m in configs)
    return out


def unreachable_reason(provider: Provider, timeout_s: float = 3.0) -> str | None:
    """A keyless local provider that refuses connections is skipped, not failed."""
    try:
        with httpx.Client(timeout=timeout_s) as client:
            client.get(provider.base_url.rstrip("/") + "/models")
    except httpx.HTTPError as exc:
        return f"server not reachable at {provider.base_url} ({type(exc).__name__})"
    return None


def provider_skip_reason(provider: Provider) -> str | None:
    """Why the whole provider is skipped: no key, disabled, or (keyless) unreachable."""
    reason = skip_reason(provider)
    if reason is None and not provider.api_key_env and not provider.builtin:
        reason = unreachable_reason(provider)
    return reason


def run_provider(
    provider: Provider, check_ids: Iterable[str] | None = None, areas: Iterable[str] | None = None
) -> list[CheckResult]:
    """Run every case for one provider in this process (no pytest)."""
    session = Session(provider)
    try:
        skip = provider_skip_reason(provider) if not provider.builtin else None
        return [
            run_check(session, case.spec, case.model, skip=skip or case.not_configured)
            for case in cases(provider, check_ids, areas)
        ]
    finally:
        session.close()
