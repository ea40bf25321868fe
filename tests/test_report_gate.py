"""Gating adoption: which checks a policy selects, adopt/reject per provider, exit codes, fallback chain."""

from __future__ import annotations

import pytest
import yaml

from conformance.report.gate import (
    ADOPT,
    BUILTIN_POLICIES,
    NOT_EVALUATED,
    REJECT,
    evaluate_policy,
    fallback_chain,
    resolve_policy,
    select_checks,
)
from conformance.report.samples import catalog_snapshot, make_result, make_run
from conformance.results import Expectation, Level, Status

CATALOG = catalog_snapshot()
CHAT_MUSTS = [
    c
    for c, s in CATALOG.items()
    if s.area in ("chat", "stream", "usage", "errors") and s.level is Level.MUST and c != "usage.embeddings"
]


def passing(provider: str, checks: list[str], latency: float = 100.0, **overrides: Status) -> list:
    return [
        make_result(provider, c, overrides.get(c.replace(".", "_"), Status.PASS), metrics={"latency_ms": latency})
        for c in checks
    ]


def test_builtin_policies_exist_and_are_valid_against_the_providers_schema() -> None:
    from conformance.schemas import validate

    assert set(BUILTIN_POLICIES) == {"chat", "agentic", "agents", "vision", "rag", "sdks"}
    assert validate("providers", {"providers": [], "policies": BUILTIN_POLICIES}) == []


def test_chat_selects_the_musts_of_chat_stream_usage_and_errors() -> None:
    checks, notes = select_checks(resolve_policy("chat"), make_run([]))
    assert sorted(checks) == sorted(CHAT_MUSTS) and not notes
    assert "usage.embeddings" not in checks and "chat.stop" not in checks  # should-level


def test_agentic_adds_tools_including_streamed_tool_calls_and_rag_is_embeddings() -> None:
    agentic, _ = select_checks(resolve_policy("agentic"), make_run([]))
    assert "tools.stream_deltas" in agentic and "tools.auto" in agentic and "chat.basic" in agentic
    assert "tools.parallel" not in agentic  # should
    rag, _ = select_checks(resolve_policy("rag"), make_run([]))
    assert "usage.embeddings" in rag and "embeddings.basic" in rag and "chat.basic" not in rag


def test_agents_is_the_responses_api_with_tools_and_streaming_and_vision_every_vision_check() -> None:
    agents, notes = select_checks(resolve_policy("agents"), make_run([]))
    assert {"responses.function_call", "responses.tool_result", "responses.stream_events", "chat.basic"} <= set(agents)
    assert "responses.previous_response_id" not in agents and not notes  # may: stateful storage is optional
    vision, notes = select_checks(resolve_policy("vision"), make_run([]))
    assert {"vision.colour", "vision.digit", "vision.responses_input_image", "chat.basic"} == set(vision) and not notes


def test_a_provider_passing_every_selected_check_is_adopted() -> None:
    gate = evaluate_policy(make_run(passing("a", CHAT_MUSTS)), "chat")
    assert gate.verdicts[0].verdict == ADOPT and gate.exit_code == 0
    assert "GATE PASSED" in gate.to_text()


def test_a_failing_must_rejects_and_names_the_check() -> None:
    run = make_run(passing("a", CHAT_MUSTS, chat_basic=Status.FAIL) + passing("b", CHAT_MUSTS))
    gate = evaluate_policy(run, "chat")
    a, b = gate.verdicts
    assert a.verdict == REJECT and [i.check for i in a.failing] == ["chat.basic"]
    assert b.verdict == ADOPT and gate.exit_code == 0  # someone is adopted and no provider is required
    assert "✗ chat.basic (must)" in gate.to_text()


def test_no_adopted_provider_fails_the_gate() -> None:
    gate = evaluate_policy(make_run(passing("a", CHAT_MUSTS, chat_basic=Status.ERROR)), "chat")
    assert gate.exit_code == 1 and gate.blocking == ("no provider meets the policy",)


def test_unsupported_on_a_may_check_does_not_reject_but_on_a_must_or_should_it_does() -> None:
    policies = {"p": {"checks": ["chat.n", "chat.stop"]}}
    ok = evaluate_policy(make_run(passing("a", ["chat.n", "chat.stop"], chat_n=Status.UNSUPPORTED)), "p", policies)
    assert ok.verdicts[0].verdict == ADOPT and ok.verdicts[0].accepted[0].check == "chat.n"
    bad = evaluate_policy(make_run(passing("a", ["chat.n", "chat.stop"], chat_stop=Status.UNSUPPORTED)), "p", policies)
    assert bad.verdicts[0].verdict == REJECT


def test_excluding_a_check_stops_it_rejecting() -> None:
    policies = {"p": {"extends": "chat", "exclude": ["chat.basic"]}}
    gate = evaluate_policy(make_run(passing("a", CHAT_MUSTS, chat_basic=Status.FAIL)), "p", policies)
    assert gate.verdicts[0].verdict == ADOPT and "chat.basic" not in gate.checks


@pytest.mark.parametrize(("allow", "verdict"), [(True, ADOPT), (False, REJECT)])
def test_expected_failures_are_accepted_only_when_the_policy_allows_them(allow: bool, verdict: str) -> None:
    results = passing("a", CHAT_MUSTS[1:]) + [
        make_result("a", CHAT_MUSTS[0], Status.FAIL, expected=Expectation(Status.FAIL, "known"))
    ]
    gate = evaluate_policy(make_run(results), "p", {"p": {"extends": "chat", "allow_expected": allow}})
    assert gate.verdicts[0].verdict == verdict


def test_a_skipped_capability_rejects_and_a_skipped_provider_is_not_evaluated() -> None:
    run = make_run(
        passing("a", CHAT_MUSTS)
        + [make_result("a", "embeddings.basic", Status.SKIPPED, message="no embeddings model configured")]
        + [make_result("b", c, Status.SKIPPED, message="no key in $B_KEY") for c in CHAT_MUSTS],
        providers=[{"name": "a"}, {"name": "b", "status": "skipped", "skip_reason": "no key in $B_KEY"}],
    )
    gate = evaluate_policy(run, "rag")
    a, b = gate.verdicts
    assert a.verdict == REJECT and any(i.status == "skipped" for i in a.failing)
    assert any(i.status == "missing" for i in a.failing)  # embeddings.shape never ran
    assert b.verdict == NOT_EVALUATED and b.reason == "no key in $B_KEY"
    assert "NOT EVALUATED" in gate.to_text()


def test_required_providers_decide_the_exit_code() -> None:
    run = make_run(passing("a", CHAT_MUSTS) + passing("b", CHAT_MUSTS, chat_basic=Status.FAIL))
    assert evaluate_policy(run, "p", {"p": {"extends": "chat", "providers": ["a"]}}).exit_code == 0
    failing = evaluate_policy(run, "p", {"p": {"extends": "chat", "providers": ["a", "b"]}})
    assert failing.exit_code == 1 and failing.blocking == ("required provider b: reject",)
    absent = evaluate_policy(run, "p", {"p": {"extends": "chat", "providers": ["zzz"]}})
    assert absent.exit_code == 1 and "not in this run" in absent.blocking[0]


def test_a_user_policy_may_extend_the_builtin_of_its_own_name() -> None:
    policy = resolve_policy("chat", {"chat": {"extends": "chat", "providers": ["a"]}})
    assert policy["providers"] == ["a"] and policy["areas"] == BUILTIN_POLICIES["chat"]["areas"]


def test_unknown_policies_and_extends_loops_are_errors() -> None:
    with pytest.raises(ValueError, match="unknown policy 'nope'"):
        resolve_policy("nope")
    with pytest.raises(ValueError, match="loops"):
        resolve_policy("x", {"x": {"extends": "y"}, "y": {"extends": "x"}})


def test_a_policy_naming_unknown_checks_says_so() -> None:
    gate = evaluate_policy(make_run(passing("a", ["chat.basic"])), "p", {"p": {"checks": ["chat.basic", "chat.nope"]}})
    assert any("chat.nope" in n for n in gate.notes)


def test_fallback_chain_ranks_adopted_providers_by_must_share_then_latency() -> None:
    run = make_run(
        passing("slow", CHAT_MUSTS, latency=900)
        + passing("fast", CHAT_MUSTS, latency=100)
        + passing("weaker", CHAT_MUSTS, latency=50)
        + [make_result("weaker", "tools.auto", Status.FAIL)]
        + passing("rejected", CHAT_MUSTS, chat_basic=Status.FAIL)
    )
    text = fallback_chain(evaluate_policy(run, "chat"), run)
    data = yaml.safe_load(text)
    assert text.startswith("# Fallback chain for policy 'chat'")
    assert [f["provider"] for f in data["fallbacks"]] == ["fast", "slow", "weaker"]
    assert data["fallbacks"][0]["median_latency_ms"] == 100.0 and data["fallbacks"][0]["must_pass_share"] == 1.0


def test_fallback_chain_yaml_quotes_hostile_names() -> None:
    name = "x: [1]\n# injected: true"
    run = make_run(passing(name, CHAT_MUSTS))
    data = yaml.safe_load(fallback_chain(evaluate_policy(run, "chat"), run))
    assert data["fallbacks"][0]["provider"] == name and "injected" not in data


def test_fallback_chain_header_shows_control_characters_as_escapes() -> None:
    run = make_run(passing("a", CHAT_MUSTS), started_at="2025-01-06T02:00:00+00:00", suite_version="1\x1b]52;c;eA==\x07")
    text = fallback_chain(evaluate_policy(run, "chat"), run)
    header = text.splitlines()[0]
    assert "\x1b" not in text and "\x07" not in text and "\\x1b]52" in header
    assert yaml.safe_load(text)["fallbacks"][0]["provider"] == "a"


def test_gate_result_to_dict_is_complete() -> None:
    gate = evaluate_policy(make_run(passing("a", CHAT_MUSTS)), "chat")
    d = gate.to_dict()
    assert (
        d["policy"] == "chat" and d["adopted"] == ["a"] and d["exit_code"] == 0 and len(d["checks"]) == len(CHAT_MUSTS)
    )
