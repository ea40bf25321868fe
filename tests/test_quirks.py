"""Every check is proven against the deviation it exists to catch.

`conformance/reference/quirks.yaml` states, for each quirk, exactly which checks must leave `pass`
and with which status. Here the whole suite runs against the reference server in each mode and the
set of changed verdicts must equal that table: no more, no less. Benign quirks (legal variations:
vendor fields, SSE comments, CRLF, no space after `data:`, one-character deltas...) must change
nothing. And every check in the catalog is flipped by at least one quirk. Where openai-node
cannot run (no node, no npm), client.openai_node is `skipped` in every mode and the tables say so
(tests/node_sdk.py); elsewhere they are asserted as written.
"""

from __future__ import annotations

import pytest

from conformance import client_impact
from conformance.catalog import load_catalog
from conformance.reference.quirks import load_quirks
from conformance.results import Status
from conformance.runner import run_provider

from conftest import reference
from node_sdk import node_sdk_adjustment

QUIRKS = load_quirks()


def verdicts(quirks: tuple[str, ...] = ()) -> dict[str, str]:
    with reference(quirks) as provider:
        return {r.check: r.status.value for r in run_provider(provider)}


def test_clean_reference_server_passes_every_check() -> None:
    results = verdicts()
    assert set(results) == set(load_catalog().ids)
    expected = client_impact.expected(client_impact.CLEAN)
    assert expected == {}, "the measured table must show no client failing on the clean server"
    assert {k: v for k, v in results.items() if v != Status.PASS.value} == node_sdk_adjustment()


@pytest.mark.parametrize("quirk", QUIRKS, ids=[q.name for q in QUIRKS])
def test_quirk_flips_exactly_its_checks(quirk) -> None:
    if quirk.pending:
        pytest.skip("pending: no check catches this quirk yet")
    changed = {k: v for k, v in verdicts((quirk.name,)).items() if v != Status.PASS.value}
    expected = dict(quirk.breaks or {})
    measured = client_impact.expected(quirk.name)  # the client checks, measured (data/client_impact.yaml)
    if quirk.kind == "benign":
        assert expected == {} and measured == {}, "a benign quirk must change no verdict, of a check or a client"
    assert not set(expected) & set(client_impact.client_checks()), "client verdicts live in data/client_impact.yaml"
    assert changed == expected | measured | node_sdk_adjustment()


def test_every_check_is_caught_by_some_quirk() -> None:
    caught = {check for q in QUIRKS for check in (q.breaks or {}) | client_impact.expected(q.name)}
    uncaught = sorted(set(load_catalog().ids) - caught)
    assert uncaught == []


def test_every_deviation_quirk_breaks_something() -> None:
    idle = [q.name for q in QUIRKS
            if q.kind != "benign" and not q.breaks and not client_impact.expected(q.name) and not q.pending]
    assert idle == []
