"""The README's two set-up commands, on a fresh clone, with none of the optional pieces.

`pip install -e '.[test]' && python -m pytest` must pass on a machine with Python, pip, node and
npm and nothing else, whether or not the optional pieces (the Node SDK, Chromium, the engines) are
installed. The tests that assert exact verdict tables once failed there: they counted on an
`npm ci` nobody had run. This test builds the barest such machine it can: a `git clone` of HEAD,
a new venv (no system site-packages) filled by the README's install line from the package index,
a PATH holding only that venv (no node, npm, Chromium or engines) and an empty user cache. Then it
runs the tests whose tables depend on the optional pieces: the quirk table, the end-to-end run
and the Node client's (which must skip, saying why).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SUBSET = ("tests/test_quirks.py", "tests/test_run_end_to_end.py", "tests/test_client_node.py")
# Settings of this machine that would hand the clone what a fresh machine does not have.
NOT_INHERITED = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")
PIP_OFFLINE_SIGNS = ("Could not find a version", "No matching distribution", "Failed to establish", "Name or service not known",
                     "Temporary failure in name resolution")


def clone_head(into: Path) -> Path:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout (or no git): there is nothing to clone")
    proc = subprocess.run(["git", "clone", "--quiet", str(REPO), str(into)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return into


def readme_install(clone: Path, env_dir: Path) -> Path:
    """A new venv with the README's `pip install -e '.[test]'` run in the clone; its bin folder."""
    try:
        venv.create(env_dir, with_pip=True, symlinks=True)
    except subprocess.CalledProcessError as exc:  # ensurepip missing (Debian: the python3-venv package)
        pytest.skip(f"cannot make a venv with pip here: {exc}")
    bin_dir = env_dir / "bin"
    env = base_env() | {"PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([bin_dir / "python", "-m", "pip", "install", "-q", "-e", ".[test]"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1200)
    if proc.returncode != 0 and any(sign in proc.stderr for sign in PIP_OFFLINE_SIGNS):
        pytest.skip(f"the package index is not reachable: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return bin_dir


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in NOT_INHERITED and not k.startswith("CONFORMANCE_")}


def summary_counts(output: str) -> dict[str, int]:
    """pytest's last line, e.g. "61 passed, 24 skipped in 98.1s" -> {"passed": 61, "skipped": 24}."""
    return {word: int(n) for n, word in re.findall(r"(\d+) (passed|failed|skipped|errors?|xfailed|xpassed)", output.splitlines()[-1])}


@pytest.mark.slow
def test_the_readme_test_command_passes_on_a_fresh_clone_without_the_optional_pieces(tmp_path: Path) -> None:
    clone = clone_head(tmp_path / "clone")
    bin_dir = readme_install(clone, tmp_path / "venv")
    env = base_env() | {"PATH": str(bin_dir), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    proc = subprocess.run([bin_dir / "python", "-m", "pytest", *SUBSET, "-q", "-rs", "-p", "no:randomly"],
                          cwd=clone, env=env, capture_output=True, text=True, timeout=1800)
    print(proc.stdout.splitlines()[-1] if proc.stdout else proc.stderr[-500:])  # the measurement, with -s
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-2000:]
    counts = summary_counts(proc.stdout)
    assert counts.get("failed", 0) == 0 and counts.get("passed", 0) > 100, counts
    assert "node not found on PATH" in proc.stdout  # the Node client's tests skip, saying why
    assert not (tmp_path / "cache" / "openai-compat-conformance").exists()  # nothing was installed
