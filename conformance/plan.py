"""The run plan: the cases a run executes, per provider, fixed once pytest has deselected.

pytest decides what runs: `--only`, `--area` and `--check` shape the parametrization, then `-k`,
`-m`, `--deselect` (and any plugin's `pytest_collection_modifyitems`) remove items. The plan is
built from the items that are left (`pytest_collection_finish`), so a deselected case sends
nothing and records nothing, and the probes it alone would have needed are never sent (probes
are sent lazily, by the first check that reads them).

What lives here: `RunPlan` (frozen: provider -> its selected cases, in collection order),
`case_of()` (the Case an item runs) and `provider_of_nodeid()` (the provider a node id belongs
to, for the controller, which sees node ids but no items). What does not: running the cases
(runner.py) and deciding which process runs which provider (distribution.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from conformance.runner import Case

SUITE_TEST = "test_check["


@dataclass(frozen=True)
class RunPlan:
    """Provider name -> the cases selected for it, in the order pytest collected them."""

    batches: Mapping[str, tuple[Case, ...]] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def from_cases(cls, cases: Iterable[Case]) -> RunPlan:
        grouped: dict[str, list[Case]] = {}
        for case in cases:
            grouped.setdefault(case.provider, []).append(case)
        return cls(MappingProxyType({name: tuple(cs) for name, cs in grouped.items()}))

    @classmethod
    def from_items(cls, items: Iterable[Any]) -> RunPlan:
        """The plan of pytest items (those that are not suite cases are ignored)."""
        return cls.from_cases(case for case in map(case_of, items) if case is not None)

    @property
    def providers(self) -> tuple[str, ...]:
        return tuple(self.batches)

    def cases(self, provider: str) -> tuple[Case, ...]:
        return self.batches.get(provider, ())

    def __len__(self) -> int:
        return sum(len(cs) for cs in self.batches.values())


def case_of(item: Any) -> Case | None:
    """The suite case a pytest item runs, or None for any other test."""
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("conformance_case") if callspec is not None else None
    return case if isinstance(case, Case) else None


def provider_of_nodeid(nodeid: str) -> str | None:
    """`...::test_check[groq:llama:chat.basic]` -> `groq`; None for any other test."""
    if SUITE_TEST not in nodeid:
        return None
    return nodeid.split(SUITE_TEST, 1)[1].split(":", 1)[0].split("]", 1)[0]
