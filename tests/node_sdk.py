"""How the exact verdict tables account for openai-node on a machine where it cannot run.

With node and npm (the SDK is installed on first use, as `conformance run` does it) the tables
are asserted exactly as written. Without them client.openai_node is `skipped` in every mode, and
only that entry changes; tests/test_client_node.py asserts the skip reasons.
"""

from __future__ import annotations

import functools
import os

from conformance import client_envs
from conformance.checks import client_node


@functools.cache
def node_sdk_adjustment() -> dict[str, str]:
    """{} where openai-node runs here, else {"client.openai_node": "skipped"} (to merge into a table)."""
    found = client_node.ensure_node_sdk(install=True)
    node = {"client.openai_node": "skipped"} if isinstance(found, str) else {}
    return node | library_adjustment()


@functools.cache
def library_adjustment() -> dict[str, str]:
    """The client libraries not installed here are `skipped` (`conformance clients install`); with
    CONFORMANCE_REQUIRE_CLIENTS set (.ci/run sets it: CI installs them all) a missing one fails."""
    if os.environ.get("CONFORMANCE_REQUIRE_CLIENTS"):
        return {}
    return {s.check: "skipped" for s in client_envs.libraries() if client_envs.installed(s) is None}
