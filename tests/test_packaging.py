"""The package as users install it: data files inside the wheel, defaults with no providers.yaml, `init`.

The slow test builds the wheel from a copy of the source, installs it into a new venv and runs
`conformance run` from an empty folder: a wheel once shipped no schemas (KeyError: unknown
schema 'providers'), and outside the source tree `conformance run` exited 2 for want of a
providers.yaml. The venv sees the machine's site-packages for the dependencies (so the test
needs no network when setuptools can build offline); the test checks `conformance` itself is
imported from the wheel, not from the source tree.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

import conformance
from conformance.catalog import load_catalog
from conformance.cli import main

from node_sdk import node_sdk_adjustment

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "conformance"
DEFAULTS_NOTICE = "conformance: no providers.yaml here, running the packaged defaults"
NOT_SHIPPED = {"node_modules", "__pycache__"}
# The packaged presets' local servers, pointed where nothing listens: the tests talk only to servers they start.
NOWHERE = {f"{name}_BASE_URL": "http://127.0.0.1:9/v1" for name in ("OLLAMA", "VLLM", "LLAMACPP", "LITELLM")}


def isolated_env() -> dict[str, str]:
    """This environment without provider keys and with the local presets pointed nowhere."""
    return {k: v for k, v in os.environ.items() if not k.endswith("_KEY")} | NOWHERE


def data_files() -> list[str]:
    """Every non-Python file in the package source (what the package reads at run time), as wheel
    paths; dotfiles (.gitignore) are the repository's, not the package's."""
    found = []
    for path in sorted(PACKAGE.rglob("*")):
        rel = path.relative_to(REPO)
        shipped = path.suffix != ".py" and not path.name.startswith(".") and not NOT_SHIPPED & set(rel.parts)
        if path.is_file() and shipped:
            found.append(rel.as_posix())
    return found


# ---------------------------------------------------------------- one copy of the defaults


def test_the_repository_providers_yaml_is_the_packaged_default() -> None:
    assert (REPO / "providers.yaml").resolve() == (PACKAGE / "data" / "providers.yaml").resolve()


def test_the_data_files_include_what_the_package_reads() -> None:
    files = set(data_files())
    expected = {
        "conformance/catalog.yaml",
        "conformance/data/providers.yaml",
        "conformance/data/schemas/providers.schema.json",
        "conformance/data/schemas/results.schema.json",
        "conformance/reference/quirks.yaml",
        "conformance/report/templates/matrix.html.j2",
        "conformance/clients/node/package.json",
        "conformance/clients/node/package-lock.json",
        "conformance/clients/node/replay.mjs",
        "conformance/clients/libraries.yaml",
        "conformance/clients/pins/langchain.txt",
        "conformance/clients/vercel_ai/package-lock.json",
        "conformance/clients/vercel_ai/replay.mjs",
        "conformance/data/client_impact.yaml",
    }
    assert expected <= files, sorted(expected - files)


# ---------------------------------------------------------------- conformance init


def test_init_writes_the_commented_starter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["init"]) == 0
    text = (tmp_path / "providers.yaml").read_text(encoding="utf-8")
    packaged = (PACKAGE / "data" / "providers.yaml").read_text(encoding="utf-8")
    assert text == f"# Written by `conformance init` (openai-compat-conformance {conformance.__version__}).\n" + packaged
    assert text.count("\n#") > 10  # the comments explain the file


def test_init_refuses_to_overwrite_without_force(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "providers.yaml").write_text("providers: []\n", encoding="utf-8")
    assert main(["init"]) == 2
    assert "providers.yaml already exists; pass --force to overwrite it" in capsys.readouterr().err
    assert (tmp_path / "providers.yaml").read_text(encoding="utf-8") == "providers: []\n"
    assert main(["init", "--force"]) == 0
    assert "builtin: reference" in (tmp_path / "providers.yaml").read_text(encoding="utf-8")


def test_init_replaces_a_symlink_instead_of_writing_through_it(tmp_path: Path) -> None:
    original = tmp_path / "original.yaml"
    original.write_text("providers: []\n", encoding="utf-8")
    link = tmp_path / "providers.yaml"
    link.symlink_to(original)
    assert main(["init", str(link), "--force"]) == 0
    assert not link.is_symlink() and original.read_text(encoding="utf-8") == "providers: []\n"


# ---------------------------------------------------------------- run with no providers.yaml


def test_run_without_a_providers_file_runs_the_packaged_defaults(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--check", "models.list", "--out", "out"],
        cwd=tmp_path, env=isolated_env(), capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.count(DEFAULTS_NOTICE) == 1
    providers = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))["providers"]
    assert {p["name"]: p["status"] for p in providers}["reference"] == "active"
    assert len(providers) > 1  # the presets come too, skipped without keys or servers


# ---------------------------------------------------------------- the wheel, installed


def build_wheel(out: Path, tmp_path: Path) -> Path:
    """`pip wheel` of a copy of the source (no node_modules, nothing written into the repository)."""
    if importlib.util.find_spec("pip") is None:
        pytest.skip("pip is not available to build the wheel")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(PACKAGE, src / "conformance", ignore=shutil.ignore_patterns(*NOT_SHIPPED))
    command = [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(out)]
    if offline_build_possible():
        command.append("--no-build-isolation")
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and "--no-build-isolation" not in command and "setuptools" in proc.stderr:
        pytest.skip(f"cannot fetch setuptools to build the wheel: {proc.stderr.strip()[-300:]}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    [wheel] = out.glob("*.whl")
    return wheel


def offline_build_possible() -> bool:
    """setuptools new enough to build a wheel by itself (>= 70.1 has bdist_wheel built in)."""
    try:  # the version only: importing setuptools inside pytest trips its distutils shim
        version = importlib.metadata.version("setuptools")
    except importlib.metadata.PackageNotFoundError:
        return False
    major, minor = (int(p) for p in version.split(".")[:2])
    return (major, minor) >= (70, 1) or (major >= 68 and importlib.util.find_spec("wheel") is not None)


@pytest.mark.slow
def test_the_wheel_ships_its_data_and_runs_from_an_empty_folder(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist", tmp_path)
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert [f for f in data_files() if f not in shipped] == []
    assert not any("node_modules" in name for name in shipped)
    # the replay worker and the adapters run in the libraries' venvs, from the installed package
    adapters = {p.relative_to(REPO).as_posix() for p in (PACKAGE / "clients" / "python").glob("*.py")}
    assert adapters and adapters <= shipped, sorted(adapters - shipped)

    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False, symlinks=True)
    python = env_dir / "bin" / "python"
    install = subprocess.run([python, "-m", "pip", "install", "-q", "--no-deps", str(wheel)],
                             capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    where = subprocess.run([python, "-c", "import conformance; print(conformance.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert Path(where.stdout.strip()).is_relative_to(env_dir), where.stdout + where.stderr

    empty = tmp_path / "empty"
    empty.mkdir()
    proc = subprocess.run([env_dir / "bin" / "conformance", "run", "--out", "out"],
                          cwd=empty, env=isolated_env(), capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stderr.count(DEFAULTS_NOTICE) == 1
    results = json.loads((empty / "out" / "results.json").read_text(encoding="utf-8"))
    ref = {r["check"]: r["status"] for r in results["results"] if r["provider"] == "reference"}
    assert set(ref) == set(load_catalog().ids)
    assert {k: v for k, v in ref.items() if v != "pass"} == node_sdk_adjustment()
    assert all((empty / "out" / name).is_file() for name in ("matrix.html", "summary.md", "junit.xml"))
