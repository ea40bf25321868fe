"""Which deviations break which client libraries, measured: the table the catalog's levels rest on.

`conformance clients measure` runs the reference server clean and in every deviation mode of
quirks.yaml, and in each runs only the client checks (the official SDKs and every library of
clients/libraries.yaml, all of which must be installed), replaying that mode's responses through
each. The statuses that are not `pass` form the table, kept in the package
(`data/client_impact.yaml`, written by `--write`, with the libraries' versions) and shown in the
README between the `client-impact` markers. The quirk table test asserts it mode by mode, beside
quirks.yaml's `breaks` (which hold the other checks).

From the table: `broken_by(mode)` (the libraries a mode breaks) and `level_evidence(check)` (the
modes that fail a check and the libraries each breaks), which decides whether a check may be
`must`: only if some deviation it catches breaks at least one library or official SDK.
"""

from __future__ import annotations

import functools
import importlib.resources
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import yaml

from conformance import client_envs

TABLE = importlib.resources.files("conformance") / "data" / "client_impact.yaml"
SDK_CHECKS = ("client.openai_python", "client.openai_node")
CLEAN = "(clean)"
README_START, README_END = "<!-- client-impact:start -->", "<!-- client-impact:end -->"


def client_checks() -> tuple[str, ...]:
    """Every client check: the official SDKs first, then the libraries in libraries.yaml order."""
    return (*SDK_CHECKS, *(spec.check for spec in client_envs.libraries()))


def titles() -> dict[str, str]:
    """Check id -> the library's name as shown."""
    return {"client.openai_python": "openai-python", "client.openai_node": "openai-node",
            **{spec.check: spec.title for spec in client_envs.libraries()}}


@functools.cache
def load_table() -> dict[str, Any]:
    """The measured table as kept in the package ({} before the first measurement)."""
    try:
        data = yaml.safe_load(TABLE.read_text("utf-8"))
    except FileNotFoundError:
        return {"modes": {}}
    return data if isinstance(data, dict) else {"modes": {}}


def expected(mode: str) -> dict[str, str]:
    """The client checks' non-pass statuses in a mode, as measured."""
    return dict((load_table().get("modes") or {}).get(mode) or {})


def broken_by(mode: str) -> list[str]:
    """The client checks a mode fails."""
    return [check for check, status in expected(mode).items() if status == "fail"]


def level_evidence(check_id: str) -> dict[str, list[str]]:
    """Deviation modes that fail `check_id` -> the client checks each of them fails."""
    from conformance.reference.quirks import load_quirks

    return {q.name: broken_by(q.name) for q in load_quirks() if (q.breaks or {}).get(check_id) == "fail"}


def must_allowed(check_id: str) -> bool:
    """A check may be `must` only if some deviation it catches breaks a library or official SDK."""
    return any(level_evidence(check_id).values())


def measured_basis(check_id: str) -> str:
    """What the check's level rests on, for the README's check table: each deviation mode that
    fails the check and the clients it breaks (the client checks themselves are the measure)."""
    if check_id.startswith("client."):
        return "(replays through the library itself)"
    evidence = level_evidence(check_id)
    if not evidence:
        return "no deviation mode yet"
    names = titles()
    breaking = [f"`{m}` → {', '.join(names.get(c, c) for c in cs)}" for m, cs in evidence.items() if cs]
    if breaking:
        return "; ".join(breaking)
    return "none of the clients breaks on " + ", ".join(f"`{m}`" for m in evidence)


def measure(modes: list[str], log: Any = print, checks: tuple[str, ...] | None = None) -> dict[str, dict[str, str]]:
    """Run the client checks (or `checks`) clean and in each mode; mode -> {check: non-pass status}."""
    from conformance.reference.server import ServerConfig
    from conformance.reference.testing import reference_provider, running_server
    from conformance.runner import run_provider

    table: dict[str, dict[str, str]] = {}
    key = "sk-measure-" + secrets.token_hex(12)  # a keyed server, so the invalid-key probe gets its 401
    for mode in [CLEAN, *modes]:
        start = time.monotonic()
        with running_server(ServerConfig(api_key=key, quirks=() if mode == CLEAN else (mode,))) as url:
            results = run_provider(reference_provider(url, key), check_ids=checks or client_checks())
        table[mode] = {r.check: r.status.value for r in results if r.status.value != "pass"}
        log(f"{mode:<34} {time.monotonic() - start:5.1f} s  {', '.join(f'{c}={s}' for c, s in table[mode].items()) or '-'}")
    return table


def render_markdown(table: dict[str, dict[str, str]]) -> str:
    """The README's table: each deviation mode that breaks a client, and the clients it breaks."""
    names = titles()
    lines = ["| deviation mode | client libraries that break on it |", "|---|---|"]
    for mode, statuses in sorted(table.items()):
        broken = [names.get(c, c) for c, s in statuses.items() if s == "fail"]
        if broken:
            lines.append(f"| `{mode}` | {', '.join(broken)} |")
    quiet = sorted(m for m, s in table.items() if m != CLEAN and not any(v == "fail" for v in s.values()))
    lines.append("")
    lines.append(f"{len(quiet)} deviation modes break none of the {len(client_checks())} clients: "
                 + ", ".join(f"`{m}`" for m in quiet) + ".")
    return "\n".join(lines)


def write(table: dict[str, dict[str, str]], package_dir: Path, readme: Path | None) -> None:
    """Write the table into the package (and the README block, when there is a README)."""
    versions = client_envs.installed_versions()
    header = ("# Measured by `conformance clients measure --write`: for the reference server clean and in each\n"
              "# deviation mode, the client checks that do not pass. Do not edit by hand; the quirk table test\n"
              "# asserts it and the catalog's levels follow it (client_impact.py).\n")
    data = {"measured_with": versions, "modes": {m: table[m] for m in table}}
    (package_dir / "data" / "client_impact.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False, width=200), "utf-8")
    if readme is not None and readme.is_file():
        text = readme.read_text("utf-8")
        if README_START in text and README_END in text:
            head, rest = text.split(README_START, 1)
            _, tail = rest.split(README_END, 1)
            readme.write_text(f"{head}{README_START}\n{render_markdown(table)}\n{README_END}{tail}", "utf-8")


def cmd_measure(only: list[str], *, write_table: bool = False) -> int:
    """`conformance clients measure [--quirk NAME ...] [--write]`."""
    from conformance.reference.quirks import load_quirks

    missing = [s.name for s in client_envs.libraries() if client_envs.installed(s) is None]
    if missing:
        print(f"not installed: {', '.join(missing)}; run `conformance clients install` first", file=sys.stderr)
        return 2
    modes = only or [q.name for q in load_quirks()]
    table = measure(modes)
    if write_table:
        if only:
            print("--write needs every mode (no --quirk)", file=sys.stderr)
            return 2
        package = Path(str(importlib.resources.files("conformance")))
        write(table, package, package.parent / "README.md")
        print(f"wrote {package / 'data' / 'client_impact.yaml'}")
    return 0
