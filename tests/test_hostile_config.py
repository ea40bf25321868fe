"""Hostile configs and output folders: exit 2 with one message, never a traceback, a hang or a request.

A providers file can be a YAML bomb (aliases that expand to a billion values, 5,000 levels of
nesting, 78 MB), or carry a URL or header that httpx would choke on or that would inject a header
(a trailing newline, `http://[::1/v1`, credentials in the URL, CR/LF in a value). Each is refused
while loading, next to a valid provider pointing at a server that counts requests: nothing is sent.
Messages never repeat a password, a header value or a key.

The output folder is written without following symbolic links placed in it: results, reports and
junit.xml replace a link instead of writing through it, and the cleanup of old part files never
reaches outside the folder.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance import cli
from conformance.configfile import MAX_DEPTH, MAX_FILE_BYTES, MAX_NODES
from conformance.providers import load_providers
from conformance.report.samples import make_result, make_run
from conformance.results import JsonLinesWriter, check_out_dir, clear_parts, write_results

from test_bad_config import LOCAL, Bad, Counter, assert_refused, counter_url, no_run  # noqa: F401 - fixtures

HERE = Path(__file__).resolve().parent


def laughs(levels: int = 9, width: int = 9) -> str:
    """The billion laughs: each level is `width` aliases of the one before."""
    rows = [f"l0: &l0 [{', '.join(['lol'] * width)}]"]
    rows += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(rows) + "\n"


def provider(base_url: str = "http://127.0.0.1:1/v1", extra: str = "") -> str:
    return f"  - name: b\n    base_url: {base_url}\n{extra}    models: {{{{chat: m}}}}\n"


BOMBS = [
    Bad("alias-bomb", "providers:\n" + LOCAL + laughs(), (f"more than {MAX_NODES:,} values", "alias"), 9),
    Bad("too-many-values", "providers:\n" + LOCAL + "tags: [" + ", ".join(["x"] * 25_000) + "]\n",
        (f"more than {MAX_NODES:,} values", "200 providers"), 5, absent=("alias",)),
    Bad("alias-recursive", "providers:\n" + LOCAL + "loop: &l [a, *l]\n", ("recursive structure",), 5),
    Bad("deep-flow", "providers:\n" + LOCAL + "deep: " + "[" * 5000 + "]" * 5000 + "\n",
        (f"nested deeper than {MAX_DEPTH} levels",), 5),
    Bad("deep-block", "providers:\n" + LOCAL + "deep:\n" + "".join(" " * i + "a:\n" for i in range(1, 200)),
        (f"nested deeper than {MAX_DEPTH} levels",), 4 + MAX_DEPTH),
    Bad("huge-file", "providers:\n" + LOCAL + "#" * (2 * MAX_FILE_BYTES) + "\n", ("2.0 MiB", "at most 1 MiB")),
]

ENDPOINTS = [
    Bad("url-trailing-newline", "providers:\n" + LOCAL + provider('"http://127.0.0.1:1/v1\\n"'),
        ("providers[1].base_url", "line break (LF)"), 6),
    Bad("url-unclosed-ipv6", "providers:\n" + LOCAL + provider('"http://[::1/v1"'),
        ("providers[1].base_url", "not a valid URL"), 6),
    Bad("url-bad-port", "providers:\n" + LOCAL + provider("http://127.0.0.1:99999/v1"), ("port 99999",), 6),
    Bad("url-bidi-override", "providers:\n" + LOCAL + provider('"http://127.0.0.1:1/v1\\u202e"'), ("\\u202e",), 6),
    Bad("url-with-query", "providers:\n" + LOCAL + provider("http://127.0.0.1:1/v1?api-version=1"),
        ("providers[1].base_url", "`query:`"), 6),
    Bad("url-with-credentials", "providers:\n" + LOCAL + provider("http://alice:hunter2secret@127.0.0.1:1/v1"),
        ("providers[1].base_url", "user name or password", "api_key_env", "${VAR}"), 6, absent=("hunter2",)),
    Bad("url-with-credentials-and-space", "providers:\n" + LOCAL + provider('"http://alice:hunter2 secret@host/v1"'),
        ("user name or password",), 6, absent=("hunter2",)),
    Bad("url-newline-from-env", "providers:\n" + LOCAL + provider("${{HOSTILE_URL}}"),
        ("providers[1].base_url", "line break (LF)"), 6, env={"HOSTILE_URL": "http://127.0.0.1:1/v1\n"}),
    Bad("url-credentials-from-env", "providers:\n" + LOCAL + provider("http://${{HOSTILE_AUTH}}@127.0.0.1:1/v1"),
        ("user name or password",), 6, env={"HOSTILE_AUTH": "alice:hunter2secret"}, absent=("hunter2",)),
    Bad("header-name-with-space", "providers:\n" + LOCAL + provider(extra='    headers: {{"X Team": a}}\n'),
        ("providers[1].headers.X Team", "not a header name"), 7),
    Bad("header-name-with-colon", "providers:\n" + LOCAL + provider(extra='    headers: {{"X-Team:": a}}\n'),
        ("not a header name",), 7),
    Bad("header-value-crlf", "providers:\n" + LOCAL + provider(extra='    headers: {{X-A: "s3cr3t\\r\\nX-Evil: 1"}}\n'),
        ("providers[1].headers.X-A", "carriage return (CR)"), 7, absent=("s3cr3t", "X-Evil")),
    Bad("header-value-nul", "providers:\n" + LOCAL + provider(extra='    headers: {{X-A: "a\\0b"}}\n'),
        ("NUL",), 7),
    Bad("header-value-lf-from-env", "providers:\n" + LOCAL + provider(extra='    headers: {{X-A: "${{HOSTILE_H}}"}}\n'),
        ("providers[1].headers.X-A", "line break (LF)"), 7, env={"HOSTILE_H": "s3cr3t\nX-Evil: 1"},
        absent=("s3cr3t",)),
    Bad("header-value-not-ascii", "providers:\n" + LOCAL + provider(extra='    headers: {{X-A: "café"}}\n'),
        ("non-ASCII",), 7, absent=("café",)),
    Bad("key-with-newline", "providers:\n" + LOCAL + provider(extra="    api_key_env: HOSTILE_KEY\n"),
        ("providers[1].api_key_env", "the key in $HOSTILE_KEY", "line break (LF)"), 7,
        env={"HOSTILE_KEY": "sk-hunter2secret\n"}, absent=("hunter2",)),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BOMBS + ENDPOINTS])
def test_hostile_file_exits_2_with_one_message_and_no_request(
    case: Bad, tmp_path: Path, counter_url: str, no_run: list, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert_refused(case, tmp_path, counter_url, no_run, monkeypatch, capsys)


def _command(d: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("HOSTILE_")}, **(env or {})}
    command = [sys.executable, "-m", "conformance.cli", *args]
    return subprocess.run(command, cwd=d, env=full_env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in BOMBS + ENDPOINTS[-1:]])
def test_the_real_command_refuses_a_bomb_without_a_traceback(case: Bad, tmp_path: Path, counter_url: str) -> None:
    (tmp_path / "providers.yaml").write_text(case.text.format(url=counter_url), encoding="utf-8")
    Counter.hits.clear()
    proc = _command(tmp_path, "run", "--providers", "providers.yaml", "--out", "out", "--check", "models.list",
                    env=case.env)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr[-2000:]
    assert all(fragment in proc.stderr for fragment in case.expect), proc.stderr
    assert not any(fragment in proc.stderr + proc.stdout for fragment in case.absent)
    assert Counter.hits == []
    assert not (tmp_path / "out").exists()


def test_anchors_aliases_and_merge_keys_still_keep_a_file_dry(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    path.write_text(
        "providers:\n"
        "  - &base\n    name: a\n    base_url: http://127.0.0.1:1/v1\n    headers: {X-Team: core}\n"
        "    models: {chat: &chat [m1, m2]}\n"
        "  - <<: *base\n    name: b\n    models: {chat: *chat, tools: m3}\n",
        encoding="utf-8",
    )
    pf = load_providers(path, env={})
    a, b = pf.providers
    assert (b.name, b.base_url, b.headers) == ("b", a.base_url, {"X-Team": "core"})
    assert [m.name for m in b.model_configs("chat")] == ["m1", "m2"]


def test_a_file_at_the_limits_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "providers.yaml"
    many = "".join(f"  - name: p{i}\n    base_url: http://127.0.0.1:1/v1\n    models: {{chat: m}}\n" for i in range(500))
    path.write_text("providers:\n" + many + "#" * (MAX_FILE_BYTES - len(many) - 20) + "\n", encoding="utf-8")
    assert len(load_providers(path, env={}).providers) == 500


# --- the output folder ---------------------------------------------------------------------------


def test_out_that_is_a_file_exits_2_before_anything_runs(
    tmp_path: Path, counter_url: str, no_run: list, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "providers.yaml").write_text("providers:\n" + LOCAL.format(url=counter_url), encoding="utf-8")
    (tmp_path / "taken").write_text("mine", encoding="utf-8")
    Counter.hits.clear()
    for out in ("taken", "taken/sub"):
        assert cli.main(["run", "--providers", str(tmp_path / "providers.yaml"), "--out", str(tmp_path / out)]) == 2
    err = capsys.readouterr().err
    assert err.count("is a file, not a directory") == 2 and "Traceback" not in err
    assert no_run == [] and Counter.hits == []
    assert (tmp_path / "taken").read_text(encoding="utf-8") == "mine"


def test_a_symlinked_parts_folder_is_refused(
    tmp_path: Path, counter_url: str, no_run: list, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "providers.yaml").write_text("providers:\n" + LOCAL.format(url=counter_url), encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "results-main.jsonl").write_text("precious\n", encoding="utf-8")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "parts").symlink_to(elsewhere)
    assert cli.main(["run", "--providers", str(tmp_path / "providers.yaml"), "--out", str(tmp_path / "out")]) == 2
    assert "parts is a symbolic link" in capsys.readouterr().err
    assert no_run == []
    assert (elsewhere / "results-main.jsonl").read_text(encoding="utf-8") == "precious\n"


def test_report_out_that_is_a_file_and_merge_into_a_folder_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = tmp_path / "results.json"
    write_results(results, make_run([make_result()]))
    (tmp_path / "taken").write_text("mine", encoding="utf-8")
    assert cli.main(["report", str(results), "--out", str(tmp_path / "taken")]) == 2
    (tmp_path / "folder").mkdir()
    assert cli.main(["merge", str(results), "-o", str(tmp_path / "folder")]) == 2
    err = capsys.readouterr().err
    assert "is a file" in err and "folder" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("layout", "problem"),
    [
        ({}, None),
        ({"out": "dir"}, None),
        ({"out": "link-to-dir"}, None),
        ({"out/results.json": "link-to-file", "out/junit.xml": "link-to-file"}, None),
        ({"out": "file"}, "is a file"),
        ({"out": "dangling-link"}, "broken symbolic link"),
        ({"out/parts": "link-to-dir"}, "parts is a symbolic link"),
        ({"out/parts": "file"}, "parts is not a directory"),
        ({"out/summary.md": "dir"}, "summary.md is a directory"),
    ],
)
def test_check_out_dir(tmp_path: Path, layout: dict[str, str], problem: str | None) -> None:
    target_dir, target_file = tmp_path / "target", tmp_path / "target.txt"
    target_dir.mkdir()
    target_file.write_text("x", encoding="utf-8")
    for name, kind in layout.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        {
            "dir": lambda p: p.mkdir(),
            "file": lambda p: p.write_text("x", encoding="utf-8"),
            "link-to-dir": lambda p: p.symlink_to(target_dir),
            "link-to-file": lambda p: p.symlink_to(target_file),
            "dangling-link": lambda p: p.symlink_to(tmp_path / "nowhere"),
        }[kind](path)
    found = check_out_dir(tmp_path / "out")
    assert found is None if problem is None else problem in found, found


def test_clear_parts_deletes_only_part_files_and_never_through_a_link(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "parts").mkdir(parents=True)
    for name in ("results-main.jsonl", "results-gw0.jsonl", "notes.txt"):
        (out / "parts" / name).write_text("x", encoding="utf-8")
    precious = tmp_path / "precious.jsonl"
    precious.write_text("keep", encoding="utf-8")
    (out / "parts" / "results-gw1.jsonl").symlink_to(precious)
    clear_parts(out)
    assert sorted(p.name for p in (out / "parts").iterdir()) == ["notes.txt"]
    assert precious.read_text(encoding="utf-8") == "keep"

    linked = tmp_path / "linked"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "results-main.jsonl").write_text("keep", encoding="utf-8")
    linked.mkdir()
    (linked / "parts").symlink_to(elsewhere)
    with pytest.raises(OSError, match="symbolic link"):
        clear_parts(linked)
    assert (elsewhere / "results-main.jsonl").read_text(encoding="utf-8") == "keep"


def test_part_writer_never_writes_through_a_link(tmp_path: Path) -> None:
    target = tmp_path / "target.jsonl"
    target.write_text("keep\n", encoding="utf-8")
    (tmp_path / "a" / "parts").mkdir(parents=True)
    (tmp_path / "a" / "parts" / "results-main.jsonl").symlink_to(target)
    with pytest.raises(OSError, match="symbolic link"):
        JsonLinesWriter(tmp_path / "a" / "parts" / "results-main.jsonl")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "parts").symlink_to(tmp_path)
    with pytest.raises(OSError, match="symbolic link"):
        JsonLinesWriter(tmp_path / "b" / "parts" / "target.jsonl")
    assert target.read_text(encoding="utf-8") == "keep\n"

    writer = JsonLinesWriter(tmp_path / "c" / "parts" / "results-main.jsonl")
    writer.write(make_result())
    writer.close()
    assert (tmp_path / "c" / "parts" / "results-main.jsonl").read_text(encoding="utf-8").count("\n") == 1


def test_a_real_run_replaces_links_in_the_output_folder_instead_of_writing_through_them(
    tmp_path: Path, counter_url: str
) -> None:
    (tmp_path / "providers.yaml").write_text("providers:\n" + LOCAL.format(url=counter_url), encoding="utf-8")
    out = tmp_path / "out"
    out.mkdir()
    targets = {}
    for name in ("results.json", "matrix.html", "summary.md", "junit.xml"):
        targets[name] = tmp_path / f"precious-{name}"
        targets[name].write_text("keep", encoding="utf-8")
        (out / name).symlink_to(targets[name])
    proc = _command(tmp_path, "run", "--providers", "providers.yaml", "--out", "out", "--check", "models.list")
    assert (out / "results.json").is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    for name, target in targets.items():
        assert target.read_text(encoding="utf-8") == "keep", name
        assert not (out / name).is_symlink() and (out / name).stat().st_size > 0, name
