"""One test per provider x model x check; the plugin parametrizes `conformance_case`."""

import pytest

from conformance.plugin import RESULT, RunState, execute, report_outcome
from conformance.runner import Case


def test_check(conformance_case: Case, conformance_state: RunState, request: pytest.FixtureRequest) -> None:
    result = execute(conformance_state, conformance_case)
    request.node.stash[RESULT] = result  # for the report hooks (pytest-html extras)
    report_outcome(result)
