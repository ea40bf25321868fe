"""One test per provider x model x check; the plugin parametrizes `conformance_case`."""

from conformance.plugin import RunState, execute, report_outcome
from conformance.runner import Case


def test_check(conformance_case: Case, conformance_state: RunState) -> None:
    report_outcome(execute(conformance_state, conformance_case))
