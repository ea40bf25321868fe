"""providers.yaml: loading, interpolation, and one clear error (file, line, path) for every bad file."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.providers import ConfigError, load_providers, skip_reason
from conformance.report.samples import make_result, make_run
from conformance.results import CheckResult, Expectation, Kind, Level, Status, read_results, write_results
from conformance.schemas import validate

REPO = Path(__file__).resolve().parent.parent


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "providers.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_shipped_providers_file_loads_with_every_preset() -> None:
    pf = load_providers(REPO / "providers.yaml", env={})
    names = {p.name for p in pf.providers}
    for preset in ("reference", "openai", "azure-openai", "azure-ai-foundry", "together", "groq", "fireworks",
                   "mistral", "deepseek", "openrouter", "ollama", "vllm", "llamacpp", "litellm-anthropic"):
        assert preset in names
    assert pf.get("ollama").base_url == "http://127.0.0.1:11434/v1"
    assert pf.get("vllm").base_url == "http://127.0.0.1:8000/v1"
    assert pf.get("llamacpp").base_url == "http://127.0.0.1:8080/v1"
    assert pf.get("azure-openai").query == {"api-version": "2024-10-21"}


def test_hosted_presets_are_skipped_without_their_key() -> None:
    pf = load_providers(REPO / "providers.yaml", env={})
    assert skip_reason(pf.get("together"), env={}) == "no key in $TOGETHER_API_KEY"
    assert skip_reason(pf.get("reference"), env={}) is None


def test_interpolation_with_default_and_env(tmp_path: Path) -> None:
    path = write(tmp_path, """
        providers:
          - name: local
            base_url: ${BASE:-http://127.0.0.1:9/v1}
            api_key_env: MY_KEY
            headers: {X-Team: "${TEAM}"}
            models: {chat: [m1, {name: m2, token_cap: 500, claims: {tools: true}}]}
            expect:
              chat.n: {status: unsupported, reason: not offered, link: https://example.com/n}
    """)
    pf = load_providers(path, env={"TEAM": "core", "MY_KEY": "sk-secret-123456"})
    p = pf.providers[0]
    assert p.base_url == "http://127.0.0.1:9/v1"
    assert p.headers == {"X-Team": "core"}
    assert [m.name for m in p.models["chat"]] == ["m1", "m2"]
    assert p.models["chat"][1].token_cap == 500 and p.models["chat"][1].claims == {"tools": True}
    assert p.expect["chat.n"].status is Status.UNSUPPORTED
    assert p.api_key == "sk-secret-123456"
    assert "sk-secret-123456" not in repr(p) and "sk-secret-123456" not in str(p.summary())


BAD_FILES = [
    ("yaml syntax", "providers:\n  - name: [unclosed\n", "started at line 2", 3),
    ("empty", "", "empty", None),
    ("unknown top-level key", "providers: []\nprovider: x\n", "provider", None),
    ("unknown provider key", """
providers:
  - name: a
    base_url: http://127.0.0.1:1/v1
    modles: {chat: x}
    models: {chat: x}
""", "providers[0]", 3),
    ("wrong type", """
providers:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: {chat: 5}
""", "providers[0].models.chat", 5),
    ("bad url", """
providers:
  - name: a
    base_url: not a url
    models: {chat: x}
""", "providers[0].base_url", 4),
    ("missing env var", """
providers:
  - name: a
    base_url: ${NOPE_NOT_SET}
    models: {chat: x}
""", "NOPE_NOT_SET", 4),
    ("duplicate names", """
providers:
  - {name: a, base_url: "http://127.0.0.1:1/v1", models: {chat: x}}
  - {name: a, base_url: "http://127.0.0.1:2/v1", models: {chat: x}}
""", "duplicate provider name", 4),
    ("unknown check id in expect", """
providers:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: {chat: x}
    expect:
      stream.framin: {status: fail}
""", "unknown check id 'stream.framin'", 7),
    ("bad expectation status", """
providers:
  - name: a
    base_url: http://127.0.0.1:1/v1
    models: {chat: x}
    expect:
      stream.framing: {status: broken}
""", "providers[0].expect.stream.framing.status", 7),
]


@pytest.mark.parametrize("case,text,needle,line", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_file_gets_one_clear_error(tmp_path: Path, case: str, text: str, needle: str, line: int | None) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_providers(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert needle in message
    if line is not None:
        assert info.value.line == line, message


def test_cli_run_exits_2_on_a_bad_file_before_any_request(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "providers:\n  - name: a\n    base_url: nope\n    models: {chat: x}\n")
    assert main(["run", "--providers", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "providers[0].base_url" in err and str(path) in err
    assert not (tmp_path / "out").exists()


def test_a_config_error_never_quotes_a_value_from_the_environment(tmp_path) -> None:
    """jsonschema messages quote the offending value: one interpolated from the environment is a
    secret, so the message names its variable instead."""
    secret = "sk-env-secret-0123456789abcdef"
    path = tmp_path / "providers.yaml"
    path.write_text("providers:\n  - name: p\n    base_url: http://127.0.0.1:9/v1\n    timeout_s: ${T}\n"
                    "    models: {chat: m}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_providers(path, env={"T": secret})
    assert secret not in str(info.value) and "$T" in str(info.value)


def test_an_expectation_may_allow_several_statuses_like_wpt(tmp_path: Path) -> None:
    path = write(tmp_path, """
        providers:
          - name: local
            base_url: http://127.0.0.1:9/v1
            models: {chat: [m1]}
            expect:
              chat.seed: {status: [fail, pass], reason: flaky upstream}
              chat.n: {status: unsupported}
    """)
    p = load_providers(path, env={}).providers[0]
    flaky, single = p.expect["chat.seed"], p.expect["chat.n"]
    assert flaky.statuses == {Status.FAIL, Status.PASS} and flaky.allows(Status.PASS) and not flaky.allows(Status.ERROR)
    assert single.statuses == {Status.UNSUPPORTED} and single.status is Status.UNSUPPORTED
    assert p.summary()["expect"] == {
        "chat.seed": {"status": ["pass", "fail"], "reason": "flaky upstream", "link": ""},
        "chat.n": {"status": "unsupported", "reason": "", "link": ""},
    }
    assert Expectation.from_dict(flaky.to_dict()) == flaky and Expectation.from_dict(single.to_dict()) == single


@pytest.mark.parametrize("status", ["[fail]", "[fail, fail]", "pass", "[fail, maybe]", "[]"])
def test_an_expectation_names_one_non_pass_status_or_several_distinct_ones(tmp_path: Path, status: str) -> None:
    path = write(tmp_path, f"""
        providers:
          - name: local
            base_url: http://127.0.0.1:9/v1
            models: {{chat: [m1]}}
            expect:
              chat.seed: {{status: {status}}}
    """)
    with pytest.raises(ConfigError, match=r"providers\[0\]\.expect\.chat\.seed"):
        load_providers(path, env={})


def test_a_result_is_as_expected_when_its_status_is_one_the_expectation_allows() -> None:
    def result(status: Status) -> CheckResult:
        return CheckResult("p", "m", "chat.seed", "chat", Level.MAY, Kind.WIRE, status,
                           expected=Expectation([Status.FAIL, Status.PASS], "flaky"))

    assert result(Status.FAIL).as_expected and result(Status.PASS).as_expected and not result(Status.ERROR).as_expected
    assert CheckResult.from_dict(result(Status.FAIL).to_dict()) == result(Status.FAIL)


def test_a_run_with_a_flaky_expectation_is_valid_results_json_and_reads_back(tmp_path: Path) -> None:
    expected = Expectation([Status.FAIL, Status.PASS], "flaky upstream")
    run = make_run([make_result("a", "chat.seed", Status.PASS, expected=expected)])
    write_results(tmp_path / "results.json", run)
    data = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert data["results"][0]["expected"]["status"] == ["pass", "fail"]
    assert validate("results", data) == []
    assert read_results(tmp_path / "results.json") == run
