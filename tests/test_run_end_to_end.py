"""`conformance run` end to end, as a user runs it: providers.yaml -> pytest -> results.json + reports."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conformance.catalog import load_catalog
from conformance.schemas import validate

from node_sdk import node_sdk_adjustment

PLANTED_KEY = "sk-planted-secret-4b1d9e0c7a2f55e1"

PROVIDERS = textwrap.dedent(
    """
    providers:
      - name: reference
        builtin: reference
        models:
          {chat: ref-chat, tools: ref-chat, embeddings: ref-embed, vision: ref-chat, images: ref-image,
           reasoning: {name: ref-reason, token_cap: 128, cap_param: max_completion_tokens}}
      - name: hosted
        base_url: https://api.example.invalid/v1
        api_key_env: CONFORMANCE_TEST_UNSET_KEY
        models: {chat: some-model}
      - name: local
        base_url: http://127.0.0.1:9/v1
        models: {chat: llama3.2}
      - name: broken-quirky
        builtin: reference
        options: {quirks: [stream_no_done, tools_args_object]}
        models: {chat: ref-chat, tools: ref-chat}
        expect:
          stream.framing: {status: fail, reason: "no [DONE] (tracked)", link: "https://example.com/issue/1"}
    """
)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One real `conformance run` in a scratch directory (shared by the tests below)."""
    d = tmp_path_factory.mktemp("run")
    node_sdk_adjustment()  # installs openai-node now if it can: the run below then finds it
    (d / "providers.yaml").write_text(PROVIDERS, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CONFORMANCE_TEST_UNSET_KEY"}
    proc = subprocess.run(
        [sys.executable, "-m", "conformance.cli", "run", "--providers", "providers.yaml", "--out", "out"],
        cwd=d, env=env, capture_output=True, text=True, timeout=600,
    )
    (d / "stdout.txt").write_text(proc.stdout + proc.stderr, encoding="utf-8")
    (d / "exit_code").write_text(str(proc.returncode))
    return d


def results(run_dir: Path) -> dict:
    return json.loads((run_dir / "out" / "results.json").read_text(encoding="utf-8"))


def test_run_writes_every_output(run_dir: Path) -> None:
    for name in ("results.json", "matrix.html", "summary.md", "junit.xml"):
        assert (run_dir / "out" / name).is_file(), (run_dir / "stdout.txt").read_text()[-3000:]


def test_results_json_validates_against_its_schema(run_dir: Path) -> None:
    errors = [e for e in validate("results", results(run_dir)) if e.severity == "must"]
    assert errors == []


def test_every_check_passes_on_the_reference_server(run_dir: Path) -> None:
    data = results(run_dir)
    ref = {r["check"]: r["status"] for r in data["results"] if r["provider"] == "reference"}
    assert set(ref) == set(load_catalog().ids)
    not_passing = {k: v for k, v in ref.items() if v != "pass"}
    assert not_passing == node_sdk_adjustment()


def test_presets_without_key_or_server_are_skipped_with_the_reason(run_dir: Path) -> None:
    data = results(run_dir)
    by = {p["name"]: p for p in data["providers"]}
    assert by["hosted"]["status"] == "skipped"
    assert by["hosted"]["skip_reason"] == "no key in $CONFORMANCE_TEST_UNSET_KEY"
    assert by["local"]["status"] == "skipped"
    assert "server not reachable at http://127.0.0.1:9/v1" in by["local"]["skip_reason"]
    for r in data["results"]:
        if r["provider"] in ("hosted", "local"):
            assert r["status"] == "skipped"


def test_a_deviating_provider_fails_exactly_where_it_deviates(run_dir: Path) -> None:
    data = results(run_dir)
    quirky = {r["check"]: r for r in data["results"] if r["provider"] == "broken-quirky"}
    assert quirky["stream.framing"]["status"] == "fail"
    assert quirky["stream.framing"]["expected"]["link"] == "https://example.com/issue/1"
    assert quirky["tools.args_encoding"]["status"] == "fail"
    assert quirky["embeddings.basic"]["status"] == "skipped"  # no embeddings model configured


def test_run_metadata_makes_results_comparable(run_dir: Path) -> None:
    run = results(run_dir)["run"]
    assert run["suite_version"] and run["catalog_version"] == load_catalog().version
    assert len(run["providers_sha256"]) == 64
    assert run["incomplete"] is False
    assert run["python"] and run["openai"]


def test_exit_code_reports_the_unexpected_failure(run_dir: Path) -> None:
    # broken-quirky's tools.args_encoding fails without an expectation -> pytest exit 1
    assert (run_dir / "exit_code").read_text() == "1"


def test_every_check_has_evidence_with_a_curl(run_dir: Path) -> None:
    for r in results(run_dir)["results"]:
        # (a client whose library or node is not installed here is skipped before it reads anything)
        if r["provider"] == "reference" and not (r["check"].startswith("client.") and r["status"] == "skipped"):
            exchanges = r["evidence"]["exchanges"]
            assert exchanges, r["check"]
            assert exchanges[0]["curl"].startswith("curl ")


def test_conformance_serve_serves_the_official_client(tmp_path: Path) -> None:
    """`conformance serve --port N` as a user starts it, driven by the official openai client."""
    import socket
    import time

    import openai

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "conformance.cli", "serve", "--port", str(port), "--api-key", "sk-serve-test"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-serve-test", max_retries=0, timeout=5)
        deadline = time.monotonic() + 60
        while True:
            try:
                models = client.models.list()
                break
            except openai.APIConnectionError:
                assert time.monotonic() < deadline, "conformance serve did not start"
                time.sleep(0.2)
        assert {m.id for m in models.data} >= {"ref-chat", "ref-embed"}
        reply = client.chat.completions.create(model="ref-chat", messages=[{"role": "user", "content": "Say hello."}])
        assert reply.choices[0].message.content
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="wrong", max_retries=0).models.list()
    finally:
        proc.terminate()
        proc.wait(10)
