"""The checks, one module per area; importing this package registers every check.

`REGISTRY` maps each catalog id to its function; `run_check` runs one and returns a CheckResult.
"""

from conformance.checks import (  # noqa: F401  (imported to register their checks)
    caching,
    chat,
    client_libs,
    client_node,
    client_python,
    completions,
    embeddings,
    errors,
    images,
    models,
    reasoning,
    responses,
    stream,
    structured,
    tools,
    usage,
    vision,
)
from conformance.checks.base import REGISTRY, Context, Session, run_check
from conformance.catalog import load_catalog


def missing_checks() -> list[str]:
    """Catalog ids without a registered function (a test asserts this is empty)."""
    return [i for i in load_catalog().ids if i not in REGISTRY]


__all__ = ["REGISTRY", "Context", "Session", "missing_checks", "run_check"]
