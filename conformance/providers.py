"""providers.yaml -> frozen Provider objects.

What lives here: `${VAR}` / `${VAR:-default}` interpolation and which values are secrets
(`public_env`), validation against `conformance/data/schemas/providers.schema.json` with errors that
name the file, the line and the path inside it, URL and header checks, expectations (`expect:`),
and whether a provider can run at all (key present). What does not: reading the file as hostile
YAML (configfile.py), starting the built-in reference server (builtins.py) and talking to
providers (transport.py). API keys are read from the environment at run time and never stored in
any object that is serialised.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any


from conformance.configfile import ConfigError, join_path, line_map, read_yaml
from conformance.redact import MIN_SEARCH_LENGTH, Secret
from conformance.results import Expectation, Status
from conformance.textsafe import CONTROLS, terminal_text

CAPABILITIES = ("chat", "tools", "embeddings", "vision", "images", "reasoning")
DEFAULTS: dict[str, Any] = {
    "timeout_s": 60.0,
    "max_concurrency": 4,
    "rpm": None,
    "token_cap": 64,
    "cap_param": "max_tokens",
    "budget_tokens": None,
}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class ModelConfig:
    """One configured model and how to cap its answers."""

    name: str
    token_cap: int
    cap_param: str
    claims: dict[str, bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Provider:
    """One provider as configured. `api_key` is resolved from the environment and never serialised."""

    name: str
    base_url: str
    api_key_env: str | None = None
    auth: str = "bearer"
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    models: dict[str, tuple[ModelConfig, ...]] = field(default_factory=dict)
    timeout_s: float = 60.0
    max_concurrency: int = 4
    rpm: int | None = None
    budget_tokens: int | None = None
    tags: tuple[str, ...] = ()
    expect: dict[str, Expectation] = field(default_factory=dict)
    prices: dict[str, float] = field(default_factory=dict)
    builtin: str | None = None
    builtin_options: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    api_key: str | None = field(default=None, repr=False, compare=False)
    env_secrets: tuple[Secret, ...] = field(default=(), repr=False, compare=False)

    def model_configs(self, capability: str) -> tuple[ModelConfig, ...]:
        return self.models.get(capability, ())

    def model(self, name: str) -> ModelConfig | None:
        for configs in self.models.values():
            for cfg in configs:
                if cfg.name == name:
                    return cfg
        return None

    def secrets(self) -> tuple[Secret, ...]:
        """Every value that must never appear in output, with the placeholder shown in its place:
        the key (`$API_KEY`), every value interpolated from the environment that `public_env` does
        not name (`$VAR`), and secret-named literal headers and query values (`$X_API_KEY`)."""
        return self._secrets

    @functools.cached_property
    def _secrets(self) -> tuple[Secret, ...]:
        # Computed once per Provider (frozen; `with_endpoint` makes a new one): `shown` asks for
        # every header, URL and curl of every request.
        found = [Secret(self.api_key, "$API_KEY")] if self.api_key else []
        found += self.env_secrets
        for k, v in [*self.headers.items(), *self.query.items()]:
            if is_secret_name(k) and v and not any(s.value in v for s in found):
                found.append(Secret(v, "$" + re.sub(r"[^A-Za-z0-9_]", "_", k).upper()))
        return tuple(sorted(found, key=lambda s: len(s.value), reverse=True))

    def shown(self, text: str, mark: str = "") -> str:
        """`text` (a URL, a header value) with every secret replaced by its placeholder. With
        `mark`, the placeholder's name is wrapped in it (`\\0API_KEY\\0`) so a curl can splice
        it in as its own shell word."""
        for secret in self.secrets():
            name = secret.placeholder.lstrip("$")
            text = text.replace(secret.value, f"{mark}{name}{mark}" if mark else f"${name}")
        return text

    def with_endpoint(self, base_url: str, api_key: str | None) -> Provider:
        """The same provider pointed at a started server (the built-in reference server)."""
        return replace(self, base_url=base_url, api_key=api_key)

    def summary(self) -> dict[str, Any]:
        """What results.json records about the provider: no secrets."""
        return {
            "name": self.name,
            "base_url": self.shown(self.base_url),
            "builtin": self.builtin,
            "models": {cap: [m.name for m in cfgs] for cap, cfgs in self.models.items()},
            "claims": {m.name: m.claims for cfgs in self.models.values() for m in cfgs if m.claims},
            "tags": list(self.tags),
            "expect": {k: e.to_dict() for k, e in self.expect.items()},
            "prices": self.prices,
            "redaction": self.redaction(),
        }

    def redaction(self) -> dict[str, int]:
        """How this provider's secrets are kept out of the outputs (shown in the reports): how many
        there are, and how many are too short to search for in provider text."""
        found = self.secrets()
        return {
            "secrets": len(found),
            "unsearched": sum(not s.searchable for s in found),
            "min_length": MIN_SEARCH_LENGTH,
        }


@dataclass(frozen=True)
class ProvidersFile:
    path: str
    sha256: str
    providers: tuple[Provider, ...]
    policies: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Provider:
        for p in self.providers:
            if p.name == name:
                return p
        raise KeyError(name)


def is_secret_name(name: str) -> bool:
    n = name.lower()
    return any(word in n for word in ("key", "token", "auth", "secret", "password", "signature", "sig"))


def load_providers(path: str | os.PathLike[str], env: dict[str, str] | None = None) -> ProvidersFile:
    """Load, interpolate and validate a providers file; raise ConfigError on the first problem."""
    env = dict(os.environ) if env is None else env
    file = str(path)
    raw, node, data = read_yaml(path, file)
    lines = line_map(node)
    if data is None:
        raise ConfigError(file, "", "the file is empty; it needs a `providers:` list")
    interpolated = _Interpolated(_public_env(data, file, lines))
    data = _interpolate(data, env, file, lines, "", interpolated)
    try:
        providers = _providers(data, env, file, lines, interpolated)
    except ConfigError as exc:  # a message may quote a value: never one from the environment
        raise interpolated.hide(exc) from None
    return ProvidersFile(
        path=file,
        sha256=hashlib.sha256(raw).hexdigest(),
        providers=providers,
        policies=dict(data.get("policies") or {}),
    )


def _providers(
    data: dict[str, Any], env: dict[str, str], file: str, lines: dict[str, int], interpolated: _Interpolated
) -> tuple[Provider, ...]:
    """Validate the interpolated file and build its providers (names unique)."""
    _endpoint_choice(data, file, lines)
    _validate(data, file, lines)
    _builtin_options(data, file, lines)
    _policies(data, file, lines)
    defaults = {**DEFAULTS, **(data.get("defaults") or {})}
    providers = tuple(
        replace(
            _provider(p, defaults, env, file, lines, i),
            env_secrets=interpolated.secrets_under(f"providers[{i}]") + interpolated.secrets_under("defaults"),
        )
        for i, p in enumerate(data["providers"])
    )
    names: dict[str, int] = {}
    for i, p in enumerate(providers):
        if p.name in names:
            path_ = f"providers[{i}].name"
            raise ConfigError(
                file, path_, f"duplicate provider name {p.name!r} (also providers[{names[p.name]}])", lines.get(path_)
            )
        names[p.name] = i
    return providers


def _provider(
    p: dict[str, Any], defaults: dict[str, Any], env: dict[str, str], file: str, lines: dict[str, int], i: int
) -> Provider:
    from conformance.catalog import load_catalog

    _check_endpoint(p, env, file, lines, i)
    catalog = load_catalog()
    cap = int(p.get("token_cap", defaults["token_cap"]))
    cap_param = p.get("cap_param", defaults["cap_param"])
    models: dict[str, tuple[ModelConfig, ...]] = {}
    for capability, entry in (p.get("models") or {}).items():
        entries = entry if isinstance(entry, list) else [entry]
        configs = []
        for m in entries:
            if isinstance(m, str):
                configs.append(ModelConfig(m, cap, cap_param))
            else:
                configs.append(
                    ModelConfig(
                        m["name"],
                        int(m.get("token_cap", cap)),
                        m.get("cap_param", cap_param),
                        dict(m.get("claims") or {}),
                    )
                )
        models[capability] = tuple(configs)
    expect: dict[str, Expectation] = {}
    for check_id, exp in (p.get("expect") or {}).items():
        if check_id not in catalog:
            path_ = f"providers[{i}].expect.{check_id}"
            raise ConfigError(file, path_, unknown_check_message(check_id), lines.get(path_))
        statuses = exp["status"] if isinstance(exp["status"], list) else [exp["status"]]  # a list: a flaky case
        expect[check_id] = Expectation([Status(s) for s in statuses], exp.get("reason", ""), exp.get("link", ""))
    key_env = p.get("api_key_env")
    builtin = p.get("builtin")
    return Provider(
        name=p["name"],
        base_url=(p.get("base_url") or f"builtin:{builtin}").rstrip("/"),
        api_key_env=key_env,
        auth=p.get("auth", "bearer"),
        headers={str(k): str(v) for k, v in (p.get("headers") or {}).items()},
        query={str(k): str(v) for k, v in (p.get("query") or {}).items()},
        models=models,
        timeout_s=float(p.get("timeout_s", defaults["timeout_s"])),
        max_concurrency=int(p.get("max_concurrency", defaults["max_concurrency"])),
        rpm=p.get("rpm", defaults["rpm"]),
        budget_tokens=p.get("budget_tokens", defaults["budget_tokens"]),
        tags=tuple(p.get("tags") or ()),
        expect=expect,
        prices={str(k): float(v) for k, v in (p.get("prices") or {}).items()},
        builtin=builtin,
        builtin_options=dict(p.get("options") or {}),
        enabled=bool(p.get("enabled", True)),
        api_key=env.get(key_env) if key_env else None,
    )


def unknown_check_message(check_id: str) -> str:
    """'unknown check id ...' with the closest real id (a typo, or the right name in another area)."""
    from conformance.catalog import load_catalog

    ids = load_catalog().ids
    close = [c for c in ids if c.split(".")[-1] == check_id.split(".")[-1]]
    close = close or difflib.get_close_matches(check_id, ids, n=1, cutoff=0.75)
    hint = f"; did you mean {close[0]!r}?" if close else "; `conformance list-checks` lists the ids"
    return f"unknown check id {check_id!r}{hint}"


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an RFC 9110 token
_URL_USERINFO = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#]*@")
_HEADER_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls but TAB; CR/LF would start a new header
_CHAR_NAMES = {"\r": "a carriage return (CR)", "\n": "a line break (LF)", "\x00": "a NUL character"}


def url_problem(url: object) -> str | None:
    """What makes `url` unusable as a base_url, or None: it must parse (httpx), be http(s) with a
    host, carry no whitespace, control character, query, fragment or credentials. The message
    never repeats a user name or password."""
    import httpx

    if not isinstance(url, str):
        return "expected a URL string"
    if _URL_USERINFO.match(url):
        return (
            "a base_url must not carry a user name or password (user:password@host). Put the key in an "
            "environment variable named by api_key_env, or send a header whose value is ${VAR}"
        )
    shown = "'" + terminal_text(url, limit=200, one_line=True) + "'"
    bad = re.search(r"\s", url) or CONTROLS.search(url)
    if bad:
        char = _CHAR_NAMES.get(bad.group(), repr(bad.group()))
        return f"{shown} has {char} at character {bad.start() + 1}; a URL has no spaces or control characters"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"{shown} is not a valid URL ({terminal_text(exc, limit=200, one_line=True)})"
    if parsed.scheme not in ("http", "https"):
        return f"{shown} is not an http:// or https:// URL"
    if not parsed.host:
        return f"{shown} has no host"
    if parsed.port is not None and not 0 < parsed.port < 65536:
        return f"{shown} has port {parsed.port}; ports are 1-65535"
    if "?" in url or "#" in url:
        return f"{shown} has a query or fragment; give query parameters under `query:`"
    return None


def _header_value_problem(value: str) -> str | None:
    """Why `value` cannot be sent as a header value, or None. Never quotes the value (a secret)."""
    bad = _HEADER_VALUE_BAD.search(value)
    if bad:
        char = _CHAR_NAMES.get(bad.group(), f"the control character U+{ord(bad.group()):04X}")
        return f"contains {char} at character {bad.start() + 1}; a header value is one line of text"
    if not value.isascii():
        at = next(i for i, c in enumerate(value) if not c.isascii())
        return f"contains a non-ASCII character at character {at + 1}; header values are sent as ASCII"
    return None


def _check_endpoint(p: dict[str, Any], env: dict[str, str], file: str, lines: dict[str, int], i: int) -> None:
    """What a request to this provider will carry, checked before anything is sent: the base_url,
    header names (RFC 9110 tokens) and values, and the key (sent as a header value too)."""
    base = f"providers[{i}]"
    problem = url_problem(p["base_url"]) if "base_url" in p else None
    if problem:
        raise ConfigError(file, f"{base}.base_url", problem, lines.get(f"{base}.base_url"))
    for name, value in (p.get("headers") or {}).items():
        path = f"{base}.headers.{name}"
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            shown = terminal_text(repr(name), limit=100, one_line=True)
            raise ConfigError(
                file, path, f"{shown} is not a header name (letters, digits and !#$%&'*+-.^_`|~ only)",
                lines.get(path) or lines.get(f"{base}.headers"),
            )
        problem = _header_value_problem(str(value))
        if problem:
            raise ConfigError(file, path, f"the value {problem}", lines.get(path))
    key_env = p.get("api_key_env")
    problem = _header_value_problem(env[key_env]) if key_env and env.get(key_env) else None
    if problem:
        path = f"{base}.api_key_env"
        raise ConfigError(file, path, f"the key in ${key_env} {problem}", lines.get(path))


def _endpoint_choice(data: Any, file: str, lines: dict[str, int]) -> None:
    """Say plainly what a oneOf error would say obscurely: base_url or builtin, exactly one."""
    providers = data.get("providers") if isinstance(data, dict) else None
    for i, p in enumerate(providers if isinstance(providers, list) else []):
        if not isinstance(p, dict):
            continue
        has_url, has_builtin = "base_url" in p, "builtin" in p
        if has_url == has_builtin:
            path = f"providers[{i}]"
            what = "has both base_url and builtin: give base_url or builtin, not both" if has_url else (
                "needs base_url (a server you run, e.g. http://127.0.0.1:8080/v1) or builtin: reference"
            )
            raise ConfigError(file, path, what, lines.get(path))


def _builtin_options(data: dict[str, Any], file: str, lines: dict[str, int]) -> None:
    """Quirk names of builtin servers are known now: refuse unknown ones before anything starts."""
    asked = [p for p in data.get("providers") or [] if (p.get("options") or {}).get("quirks")]
    if not asked:
        return  # loading the quirk table costs ~0.2 s of start-up: only when a file names quirks
    from conformance.reference.quirks import load_quirks

    names = {q.name for q in load_quirks()}
    for i, p in enumerate(data.get("providers") or []):
        for j, quirk in enumerate((p.get("options") or {}).get("quirks") or []):
            if quirk not in names:
                path = f"providers[{i}].options.quirks[{j}]"
                close = difflib.get_close_matches(quirk, sorted(names), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ConfigError(
                    file, path, f"unknown quirk {quirk!r}; {hint}`conformance list-quirks` lists them", lines.get(path)
                )


def _policies(data: dict[str, Any], file: str, lines: dict[str, int]) -> None:
    """Policies name checks, areas, providers and parents that must exist, or they can never pass."""
    from conformance.catalog import load_catalog

    catalog = load_catalog()
    provider_names = {p.get("name") for p in data.get("providers") or []}
    policies = data.get("policies") or {}
    for name, policy in policies.items():
        base = f"policies.{name}"
        for key in ("checks", "exclude"):
            for j, check_id in enumerate(policy.get(key) or []):
                if check_id not in catalog:
                    path = f"{base}.{key}[{j}]"
                    raise ConfigError(file, path, unknown_check_message(check_id), lines.get(path))
        if "clients" in policy:
            from conformance.report.gate import client_checks

            try:
                client_checks(policy.get("clients"), None, base)
            except ValueError as exc:
                raise ConfigError(file, f"{base}.clients", str(exc), lines.get(f"{base}.clients")) from None
        for j, area in enumerate(policy.get("areas") or []):
            if area not in catalog.areas:
                path = f"{base}.areas[{j}]"
                raise ConfigError(file, path, f"unknown area {area!r}; areas are {list(catalog.areas)}", lines.get(path))
        for j, provider in enumerate(policy.get("providers") or []):
            if provider not in provider_names:
                path = f"{base}.providers[{j}]"
                raise ConfigError(
                    file, path, f"policy requires provider {provider!r}, which this file does not define", lines.get(path)
                )
        if "extends" in policy:
            from conformance.report.gate import resolve_policy

            try:
                resolve_policy(name, policies)
            except ValueError as exc:
                path = f"{base}.extends"
                raise ConfigError(file, path, str(exc), lines.get(path)) from None


def _public_env(data: Any, file: str, lines: dict[str, int]) -> frozenset[str]:
    """`public_env: [TEAM, REGION]`: variables whose values may be shown in reports (not secrets)."""
    names = data.get("public_env") if isinstance(data, dict) else None
    if names is None:
        return frozenset()
    if not isinstance(names, list) or not all(isinstance(n, str) and _NAME.fullmatch(n) for n in names):
        raise ConfigError(file, "public_env", "must be a list of environment variable names", lines.get("public_env"))
    return frozenset(names)


def skip_reason(provider: Provider, env: dict[str, str] | None = None) -> str | None:
    """Why this provider cannot run now (no key, disabled), or None. Reachability is probed separately."""
    env = dict(os.environ) if env is None else env
    if not provider.enabled:
        return "disabled in the providers file (enabled: false)"
    if provider.api_key_env and not provider.api_key and not env.get(provider.api_key_env):
        return f"no key in ${provider.api_key_env}"
    return None


@dataclass
class _Interpolated:
    """Where each value taken from the environment went (`providers[2].headers.Cookie` -> VAR)."""

    public: frozenset[str]
    env_values: list[tuple[str, str, str]] = field(default_factory=list)  # (path, var, value)

    def hide(self, exc: ConfigError) -> ConfigError:
        """The same error with every secret value it quotes replaced by `$VAR`."""
        message = exc.message
        for _, var, value in sorted(self.env_values, key=lambda e: len(e[2]), reverse=True):
            if var not in self.public and value:
                message = message.replace(value, f"${var}")
        return ConfigError(exc.file, exc.path, message, exc.line)

    def secrets_under(self, prefix: str) -> tuple[Secret, ...]:
        return tuple(
            Secret(value, f"${var}")
            for path, var, value in self.env_values
            if var not in self.public and (path == prefix or path.startswith((prefix + ".", prefix + "[")))
        )


# Fields that name a test (its id, the report's rows): a secret there would be printed by pytest
# itself, so a value from the environment is allowed there only when `public_env` names it.
_IDENTITY_FIELD = re.compile(r"^providers\[\d+\]\.(name|tags|models|expect)\b")


def _interpolate(value: Any, env: dict[str, str], file: str, lines: dict[str, int], path: str,
                 seen: _Interpolated) -> Any:
    if isinstance(value, str):

        def sub(m: re.Match[str]) -> str:
            name, default = m.group(1), m.group(2)
            if name in env and env[name] != "":
                if name not in seen.public and _IDENTITY_FIELD.match(path):
                    raise ConfigError(
                        file, path,
                        f"${{{name}}} comes from the environment, so its value is a secret and this field is"
                        f" shown in test ids and reports; list {name} under `public_env:` to show it",
                        lines.get(path),
                    )
                seen.env_values.append((path, name, env[name]))
                return env[name]
            if default is not None:
                return default  # written in the file itself: not a secret
            raise ConfigError(
                file, path, f"environment variable ${{{name}}} is not set (set it, or write ${{{name}:-default}})",
                lines.get(path),
            )

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _interpolate(v, env, file, lines, join_path(path, k), seen) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, env, file, lines, f"{path}[{i}]", seen) for i, v in enumerate(value)]
    return value


def _validate(data: Any, file: str, lines: dict[str, int]) -> None:
    from conformance import schemas

    errors = [e for e in schemas.validate("providers", data) if e.severity == "must"]
    if not errors:
        return
    # The deepest error is the most specific one a user can act on.
    err = max(errors, key=lambda e: e.pointer.count("/"))
    message = err.message
    if err.pointer.endswith("/base_url"):  # the schema's message would quote a password in the URL
        message = url_problem(_at_pointer(data, err.pointer)) or message
    path = _pointer_to_path(err.pointer)
    line = lines.get(path)
    while line is None and path:
        path_up = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", path)
        if path_up == path:
            break
        path = path_up
        line = lines.get(path)
    raise ConfigError(file, _pointer_to_path(err.pointer), message, line)


def _at_pointer(data: Any, pointer: str) -> Any:
    """The value a JSON pointer names in `data`, or None."""
    for part in [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/") if p != ""]:
        try:
            data = data[int(part)] if isinstance(data, list) else data[part]
        except (KeyError, IndexError, ValueError, TypeError):
            return None
    return data


def _pointer_to_path(pointer: str) -> str:
    out = ""
    for part in [p for p in pointer.split("/") if p != ""]:
        part = part.replace("~1", "/").replace("~0", "~")
        out += f"[{part}]" if part.isdigit() else join_path("", part) if not out else f".{part}"
    return out
