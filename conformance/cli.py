"""The `conformance` command: a thin layer over the library.

run          the suite (pytest with the conformance plugin) -> reports/latest/
init         write a commented starter providers.yaml to edit
serve        the reference server (conformance.reference)
list-checks  the check catalog (text, markdown for the README, json)
list-quirks  the reference server's deviation modes
report       regenerate matrix.html / summary.md from a results.json
diff         compare two results files (non-zero exit on a must regression)
merge        combine results files of sharded runs
gate         adopt/reject providers against a policy
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.resources
import json
import os
import sys
from collections.abc import Iterator
from typing import Any
from importlib.resources.abc import Traversable
from pathlib import Path

import conformance

from conformance.catalog import load_catalog
from conformance.providers import ConfigError, load_providers
from conformance.results import check_out_dir
from conformance.textsafe import terminal_text

EXIT_USAGE = 2
PROVIDERS_FILE = "providers.yaml"
NO_INSTALL_ENV = "CONFORMANCE_NO_INSTALL"  # read by checks.client_node.ensure_node_sdk


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return cmd_serve(argv[1:])
    args, rest = parser.parse_known_args(argv)
    if args.command == "run":
        return cmd_run(args, rest)  # what run does not know is passed on to pytest
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    handler = {
        "init": cmd_init,
        "list-checks": cmd_list_checks,
        "list-quirks": cmd_list_quirks,
        "report": cmd_report,
        "diff": cmd_diff,
        "merge": cmd_merge,
        "gate": cmd_gate,
        "clients": cmd_clients,
    }[args.command]
    return handler(args)


def build_parser() -> argparse.ArgumentParser:
    """The command line: one subparser per command (`serve` hands its arguments to the reference
    server's own parser: starlette/anyio must not be imported before `run` hands control to pytest)."""
    parser = argparse.ArgumentParser(prog="conformance", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    _run_arguments(sub.add_parser("run", help="run the suite against the providers file"))
    init = sub.add_parser("init", help=f"write a commented starter {PROVIDERS_FILE} to edit")
    init.add_argument("path", nargs="?", default=PROVIDERS_FILE, metavar="FILE")
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    sub.add_parser("serve", help="run the built-in reference server (serve --help for its options)", add_help=False)
    lc = sub.add_parser("list-checks", help="print the check catalog")
    lc.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    sub.add_parser("list-quirks", help="print the reference server's deviation modes")
    _results_commands(sub)
    return parser


def _run_arguments(run: argparse.ArgumentParser) -> None:
    run.add_argument(
        "--providers", metavar="FILE", help=f"providers file (default: ./{PROVIDERS_FILE}, else the packaged defaults)"
    )
    run.add_argument("--only", metavar="NAME[,NAME]")
    run.add_argument("--area", metavar="AREA[,AREA]")
    run.add_argument("--check", metavar="ID[,ID]")
    run.add_argument("-k", dest="keyword", metavar="EXPR", help="pytest -k expression")
    run.add_argument("-n", dest="workers", metavar="N", help="pytest-xdist workers (a number or 'auto')")
    run.add_argument("--out", default="reports/latest", metavar="DIR")
    run.add_argument("--repeat", type=int, default=1, metavar="N", help="run each check N times (flakiness)")
    run.add_argument("--gate", metavar="POLICY", help="gate the results against a policy at the end")
    run.add_argument("--history", metavar="DIR", help="append this run to a history directory (trend strips)")
    run.add_argument("--baseline", metavar="RESULTS", help="highlight changes against an earlier results.json")
    run.add_argument(
        "--no-install", action="store_true",
        help="do not install the pinned openai-node on first use (client.openai_node is then skipped)",
    )


def _results_commands(sub: Any) -> None:
    """report, diff, merge, gate: the commands that read results.json files."""
    rep = sub.add_parser("report", help="render reports from a results.json")
    rep.add_argument("results")
    rep.add_argument("--out", metavar="DIR", help="output directory (default: beside the results file)")
    rep.add_argument("--history", metavar="DIR", help="history directory for trend strips and flip counts")
    rep.add_argument("--append-history", action="store_true", help="also append this run to --history (e.g. after merge)")
    rep.add_argument("--baseline", metavar="RESULTS")
    diff = sub.add_parser("diff", help="compare two results files")
    diff.add_argument("old")
    diff.add_argument("new")
    diff.add_argument("--json", action="store_true", help="machine-readable output")
    merge = sub.add_parser("merge", help="merge results files of sharded runs")
    merge.add_argument("inputs", nargs="+")
    merge.add_argument("-o", "--output", required=True)
    gate = sub.add_parser("gate", help="adopt or reject providers against a policy")
    gate.add_argument("results")
    gate.add_argument("--policy", required=True)
    gate.add_argument("--providers", metavar="FILE", help="providers file holding `policies:` (optional)")
    gate.add_argument("--fallback-out", metavar="FILE", help="write the ranked fallback chain as YAML")
    clients = sub.add_parser("clients", help="the client libraries responses are replayed through")
    csub = clients.add_subparsers(dest="clients_command", required=True)
    inst = csub.add_parser("install", help="build the libraries' environments (in the user cache dir)")
    inst.add_argument("names", nargs="*", metavar="NAME", help="libraries to install (default: all)")
    inst.add_argument("--force", action="store_true", help="build again even when installed")
    csub.add_parser("list", help="the libraries, their pins and whether they are installed")
    measure = csub.add_parser("measure", help="replay every reference deviation mode through every library")
    measure.add_argument("--write", action="store_true", help="write the table into the package and the README")
    measure.add_argument("--quirk", action="append", default=[], metavar="NAME", help="only these modes (repeatable)")


def cmd_run(args: argparse.Namespace, passthrough: list[str]) -> int:
    """Validate the providers file (exit 2 on a bad one, nothing run), then run pytest."""
    with contextlib.ExitStack() as stack:
        if args.providers is None:
            args.providers = str(stack.enter_context(default_providers_file()))
        if args.no_install:
            stack.enter_context(_env(NO_INSTALL_ENV, "1"))  # also reaches xdist workers
        return _run(args, passthrough)


def _may_run(args: argparse.Namespace, check_id: str) -> bool:
    """False only when --check or --area leaves the check out (-k is pytest's to judge)."""
    if args.check and check_id not in args.check.split(","):
        return False
    return not args.area or check_id.split(".")[0] in args.area.split(",")


def _install_node_sdk() -> None:
    """Install the pinned openai-node now, if it is missing and can be, while the terminal is ours
    (inside pytest the one-line notice would be captured); the check installs it lazily otherwise."""
    from conformance.checks.client_node import ensure_node_sdk

    ensure_node_sdk(install=True)


def _run(args: argparse.Namespace, passthrough: list[str]) -> int:
    import pytest

    try:
        providers = load_providers(args.providers)
    except ConfigError as exc:
        print(f"conformance: {exc}", file=sys.stderr)
        return EXIT_USAGE
    out = Path(args.out)
    problem = check_out_dir(out)
    if problem:
        print(f"conformance run: --out: {terminal_text(problem)}", file=sys.stderr)
        return EXIT_USAGE
    if (out / "junit.xml").is_symlink():  # pytest writes junit.xml itself, and would write through a link
        (out / "junit.xml").unlink()
    if not args.no_install and _may_run(args, "client.openai_node"):
        _install_node_sdk()  # once the run is known to go ahead: a bad file gets its one message only
    pytest_args = [
        "--pyargs",
        "conformance.suite",
        "--providers",
        args.providers,
        "--conformance-out",
        str(out),
        f"--junitxml={out / 'junit.xml'}",
        "-o",
        "junit_family=xunit2",
        "-p",
        "no:cacheprovider",
        "-q",
        "--conformance-compact",  # a line per provider, not a letter per test; -v brings pytest's own back
        "-rfE",
        # The suite has no assert statements to rewrite, and rewriting compiles every module of
        # every plugin's package (hypothesis too): ~0.7 s of start-up and exit ("--assert=rewrite" undoes it).
        "--assert=plain",
        # pytest's unraisable-exception plugin runs gc.collect() five times at exit: ~0.1 s per
        # provider's worth of heap, for warnings about __del__ errors a conformance run has no use for.
        "-p",
        "no:unraisableexception",
    ]
    for flag, value in (("--only", args.only), ("--area", args.area), ("--check", args.check), ("-k", args.keyword)):
        if value:
            pytest_args += [flag, value]
    if args.repeat > 1:
        pytest_args += ["--repeat", str(args.repeat)]
    if args.workers:  # the plugin deals whole providers to workers (conformance/distribution.py)
        pytest_args += ["-n", args.workers, "--dist", "loadgroup"]
    code = int(pytest.main(pytest_args + passthrough))
    results = out / "results.json"
    if not results.exists():
        return code or 1
    if args.history or args.baseline:
        _rerender(results, out, args.history, args.baseline, append=True)
    if args.gate:
        return _gate(results, args.gate, providers.policies, None)
    return code


@contextlib.contextmanager
def default_providers_file() -> Iterator[Path]:
    """./providers.yaml if there is one, else the packaged defaults (saying so in one line)."""
    local = Path(PROVIDERS_FILE)
    if local.exists():
        yield local
        return
    with importlib.resources.as_file(_packaged_providers()) as packaged:
        print(
            f"conformance: no {PROVIDERS_FILE} here, running the packaged defaults ({packaged}); "
            f"`conformance init` writes one to edit",
            file=sys.stderr,
        )
        yield packaged


def _packaged_providers() -> Traversable:
    return importlib.resources.files(conformance) / "data" / PROVIDERS_FILE


@contextlib.contextmanager
def _env(name: str, value: str) -> Iterator[None]:
    """Set an environment variable for the duration (restored after: main() may run in-process)."""
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = old


def cmd_init(args: argparse.Namespace) -> int:
    """Write the packaged providers file, comments and all, as a starter; never over a file unasked."""
    target = Path(args.path)
    if (target.exists() or target.is_symlink()) and not args.force:
        print(f"conformance init: {target} already exists; pass --force to overwrite it", file=sys.stderr)
        return EXIT_USAGE
    header = f"# Written by `conformance init` (openai-compat-conformance {conformance.__version__}).\n"
    target.unlink(missing_ok=True)  # a symlink is replaced, not written through
    target.write_text(header + _packaged_providers().read_text(encoding="utf-8"), encoding="utf-8")
    print(f"wrote {target}: the built-in reference server and presets for hosted and local providers; "
          "set the keys your providers need and run `conformance run`")
    return 0


def _rerender(results: Path, out: Path, history: str | None, baseline: str | None, append: bool = False) -> None:
    from conformance.report import write_reports
    from conformance.report.history import append_history
    from conformance.results import read_results

    run = read_results(results)
    if history and append:
        append_history(run, Path(history))
    base = read_results(Path(baseline)) if baseline else None
    write_reports(run, out, history_dir=Path(history) if history else None, baseline=base)


def cmd_serve(argv: list[str]) -> int:
    from conformance.reference.server import add_serve_arguments, serve_from_args

    parser = argparse.ArgumentParser(prog="conformance serve", description="the built-in reference server")
    add_serve_arguments(parser)
    return serve_from_args(parser.parse_args(argv))


def cmd_list_checks(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    if args.format == "json":
        print(json.dumps({"version": catalog.version, "checks": catalog.snapshot()}, indent=2))
    elif args.format == "markdown":
        print(checks_markdown())
    else:
        for spec in catalog.checks:
            print(f"{spec.id:<30} {spec.level.value:<6} {spec.kind.value:<9} {spec.title}")
        print(f"\n{len(catalog.checks)} checks in {len(catalog.areas)} areas (catalog version {catalog.version})")
    return 0


def checks_markdown() -> str:
    """The README's check table, generated from the catalog (a test keeps the README in sync)."""
    from conformance.client_impact import measured_basis

    catalog = load_catalog()
    lines = ["| id | level | kind | what it checks | measured: deviation → clients it breaks |", "|---|---|---|---|---|"]
    for spec in catalog.checks:
        title = spec.title.replace("|", "\\|")
        lines.append(f"| `{spec.id}` | {spec.level.value} | {spec.kind.value} | {title} | {measured_basis(spec.id)} |")
    return "\n".join(lines)


def cmd_clients(args: argparse.Namespace) -> int:
    """`conformance clients install|list|measure`."""
    from conformance import client_envs

    if args.clients_command == "measure":
        from conformance.client_impact import cmd_measure

        return cmd_measure(args.quirk, write_table=args.write)
    if args.clients_command == "list":
        for spec in client_envs.libraries():
            record = client_envs.installed(spec)
            state = ", ".join(f"{k} {v}" for k, v in (record or {}).get("versions", {}).items()) if record else "not installed"
            print(f"{spec.name:<16} {spec.check:<24} {state}")
        return 0
    try:
        specs = [client_envs.library(n) for n in args.names] or list(client_envs.libraries())
    except KeyError as exc:
        print(f"conformance clients install: {exc.args[0]}", file=sys.stderr)
        return 2
    failed = 0
    for spec in specs:
        result = client_envs.install(spec, force=args.force, log=lambda m: print(f"  {m}", file=sys.stderr, flush=True))
        if result.error:
            failed += 1
            print(f"{spec.name:<16} FAILED: {result.error}")
            continue
        how = f"installed in {result.seconds:g} s" if result.fresh else "already installed"
        size = f"{result.size_bytes / 1e6:.0f} MB"
        versions = ", ".join(f"{k} {v}" for k, v in (result.versions or {}).items())
        print(f"{spec.name:<16} {how}, {size}: {versions} ({result.path})")
    return 1 if failed else 0


def cmd_list_quirks(args: argparse.Namespace) -> int:
    from conformance.reference.quirks import load_quirks

    for q in load_quirks():
        print(f"{q.name:<34} {q.kind:<9} {q.description}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    results = Path(args.results)
    out = Path(args.out) if args.out else results.parent
    problem = check_out_dir(out)
    if problem:
        print(f"conformance report: --out: {terminal_text(problem)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        _rerender(results, out, args.history, args.baseline, append=args.append_history)
    except (OSError, ValueError) as exc:
        print(f"conformance report: {terminal_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    from conformance.report.diff import diff_runs
    from conformance.results import read_results

    try:
        d = diff_runs(read_results(Path(args.old)), read_results(Path(args.new)))
    except (OSError, ValueError) as exc:
        print(f"conformance diff: {terminal_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    # JSON escapes every control character itself; the text names providers and quotes their messages.
    print(json.dumps(d.to_dict(), indent=2) if args.json else terminal_text(d.to_text(), limit=None))
    return 1 if d.has_must_regression else 0


def cmd_merge(args: argparse.Namespace) -> int:
    from conformance.report.merge import merge_runs
    from conformance.results import read_results, write_results

    try:
        merged = merge_runs([read_results(Path(p)) for p in args.inputs])
    except (OSError, ValueError) as exc:
        print(f"conformance merge: {terminal_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    try:
        write_results(Path(args.output), merged)
    except OSError as exc:  # e.g. -o names a directory
        print(f"conformance merge: {terminal_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(f"merged {len(args.inputs)} files: {len(merged.results)} results -> {args.output}")
    return 0


def cmd_gate(args: argparse.Namespace) -> int:
    policies = {}
    if args.providers:
        try:
            policies = load_providers(args.providers).policies
        except ConfigError as exc:
            print(f"conformance: {exc}", file=sys.stderr)
            return EXIT_USAGE
    return _gate(Path(args.results), args.policy, policies, args.fallback_out)


def _gate(results: Path, policy: str, policies: dict, fallback_out: str | None) -> int:
    from conformance.report.gate import evaluate_policy, fallback_chain
    from conformance.results import read_results

    try:
        run = read_results(results)
        result = evaluate_policy(run, policy, policies)  # user policies first, then the built-ins
    except (OSError, ValueError) as exc:  # no results file, not one, an unknown policy, an `extends` loop
        print(f"conformance gate: {terminal_text(exc)}", file=sys.stderr)
        return EXIT_USAGE
    print(terminal_text(result.to_text(), limit=None))
    if fallback_out:
        Path(fallback_out).write_text(fallback_chain(result, run), encoding="utf-8")
    return result.exit_code

if __name__ == "__main__":
    sys.exit(main())
