"""The client-impact view ("will my stack work?") and gate policies that require client libraries.

Synthetic client records, shaped as checks/sdk_replay.py and checks/client_libs.py write them: the
first failing step in the message, further ones as "also:" notes, the replayed probes' exchanges as
evidence, and "<library> is not installed: run `conformance clients install NAME`" when skipped.
"""

from __future__ import annotations

import json
import re

import pytest

from conformance.probes import PROBES
from conformance.providers import ModelConfig
from conformance.report import render_html, render_markdown
from conformance.report.clients import DETAIL, build_client_impact, exchange_of, parse_step
from conformance.report.gate import ADOPT, REJECT, evaluate_policy, resolve_policy, select_checks
from conformance.report.matrix import build_matrix
from conformance.report.samples import make_result, make_run
from conformance.results import (
    Evidence,
    ExchangeRecord,
    Expectation,
    RequestRecord,
    ResponseRecord,
    RunResults,
    Status,
)

LANGCHAIN = "LangChain (langchain-openai)"
RAISED = f"{LANGCHAIN} raised on the tools_auto response (ChatOpenAI.bind_tools.invoke): TypeError: 'NoneType' is not iterable"
MISMATCH = f"{LANGCHAIN} on the stream_usage response (ChatOpenAI.stream): the streamed text 'x' != wire text 'y'"
NOT_INSTALLED = "LiteLLM (Python SDK) is not installed: run `conformance clients install litellm`"
HOSTILE = "<script>alert(1)</script> | a | b |\n\n# heading\n[link](https://evil.example) @octocat \x1b[31m\u202e" + "x" * 100_000
PLAN = ("models_list", "chat_basic", "stream_usage", "tools_auto", "emb_base64", "emb_single")


def probe_exchange(probe: str, model: str = "model-a", cap: int = 64) -> ExchangeRecord:
    """An exchange record whose request is `probe`'s, as the suite would have sent it for `model`."""
    request = PROBES[probe](ModelConfig(name=model, token_cap=cap, cap_param="max_completion_tokens"))
    return ExchangeRecord(
        request=RequestRecord(request.method, f"https://alpha.example/v1{request.path}", {}, request.json),
        response=ResponseRecord(200, {"content-type": "application/json"}, '{"ok": true}', 12),
    )


def page_data(page: str) -> dict:
    """The JSON the page script reads."""
    return json.loads(page.split('<script type="application/json" id="page-data">', 1)[1].split("</script>", 1)[0])


def replayed(*probes: str, model: str = "model-a") -> tuple[ExchangeRecord, ...]:
    return tuple(probe_exchange(p, model) for p in probes)


def client(provider: str, check: str, status: Status | str, message: str = "", *, notes: tuple[str, ...] = (),
           model: str = "model-a", expected: Expectation | None = None):
    evidence = Evidence(exchanges=replayed(*PLAN, model=model), notes=notes)
    return make_result(provider, check, status, model=model, message=message, evidence=evidence, expected=expected)


def stack_run() -> RunResults:
    """alpha: openai-python works, LangChain breaks on two steps, LiteLLM is not installed, the
    Vercel AI SDK reached no verdict. beta: everything it ran works."""
    return make_run([
        client("alpha", "client.openai_python", Status.PASS, "openai-python 1.0 (python): 9 calls passed"),
        client("alpha", "client.langchain", Status.FAIL, RAISED + " (+1 more calls failed, see notes)",
               notes=("not replayed through LangChain: resp_basic (404)", "also: " + MISMATCH)),
        client("alpha", "client.litellm", Status.SKIPPED, NOT_INSTALLED),
        client("alpha", "client.vercel_ai", Status.ERROR, "the replay worker does not start: node missing"),
        client("beta", "client.openai_python", Status.PASS),
        client("beta", "client.langchain", Status.PASS),
        client("beta", "client.litellm", Status.PASS),
        make_result("alpha", "chat.basic", Status.PASS),
    ])


# ---------------------------------------------------------------- the view


def test_each_provider_gets_a_verdict_per_library_in_libraries_yaml_order() -> None:
    view = build_client_impact(stack_run())
    assert [lib.check for lib in view.libraries] == [
        "client.openai_python", "client.langchain", "client.litellm", "client.vercel_ai"]
    states = {row.provider: [v.state if v else None for v in row.verdicts] for row in view.rows}
    assert states == {"alpha": ["works", "breaks", "not_installed", "error"],
                      "beta": ["works", "works", "works", None]}


def test_a_breaking_library_lists_each_step_with_its_probe_call_and_the_library_text() -> None:
    langchain = build_client_impact(stack_run()).row("alpha").verdicts[1]
    first, second = langchain.steps
    assert (first.probe, first.call, first.raised) == ("tools_auto", "ChatOpenAI.bind_tools.invoke", True)
    assert first.detail == "TypeError: 'NoneType' is not iterable"  # the "(+1 more ...)" suffix is the check's, not the library's
    assert (second.probe, second.call, second.raised) == ("stream_usage", "ChatOpenAI.stream", False)
    assert second.detail == "the streamed text 'x' != wire text 'y'"


def test_a_step_points_at_its_probes_exchange_ignoring_the_model_and_token_cap() -> None:
    langchain = build_client_impact(stack_run()).row("alpha").verdicts[1]
    assert [s.exchange for s in langchain.steps] == [PLAN.index("tools_auto"), PLAN.index("stream_usage")]
    assert exchange_of("emb_base64", replayed(*PLAN, model="other-model")) == PLAN.index("emb_base64")
    assert exchange_of("emb_single", replayed(*PLAN)) == PLAN.index("emb_single")  # not emb_base64's twin


def test_an_exchange_the_record_did_not_keep_is_none() -> None:
    assert exchange_of("tools_stream", replayed(*PLAN)) is None
    assert exchange_of("no_such_probe", replayed(*PLAN)) is None


def test_in_the_matrix_a_verdict_links_to_the_evidence_its_cell_opens() -> None:
    run = stack_run()
    m = build_matrix(run)
    langchain = m.clients.row("alpha").verdicts[1]
    key = next(r.key for r in run.results if r.provider == "alpha" and r.check == "client.langchain")
    assert langchain.evidence == m.cell_index[key]
    shown = m.evidence[langchain.evidence]["exchanges"]
    assert len(shown) == len(PLAN)  # a failing client cell shows every exchange it kept
    assert "/chat/completions" in shown[langchain.steps[0].exchange]["request"]["url"]


def test_not_installed_names_the_install_command_from_libraries_yaml() -> None:
    view = build_client_impact(stack_run())
    litellm = view.row("alpha").verdicts[2]
    assert litellm.install == "conformance clients install litellm" and litellm.symbol == "–"
    assert [(lib.name, cmd) for lib, cmd in view.not_installed()] == [("litellm", "conformance clients install litellm")]


def test_a_skip_for_another_reason_is_not_run_rather_than_not_installed() -> None:
    run = make_run([client("alpha", "client.langchain", Status.SKIPPED, "no key in $ALPHA_KEY")])
    verdict = build_client_impact(run).row("alpha").verdicts[0]
    assert (verdict.state, verdict.install) == ("skipped", None)


def test_a_provider_with_two_models_gets_a_row_per_model() -> None:
    run = make_run([client("alpha", "client.langchain", Status.PASS, model="m1"),
                    client("alpha", "client.langchain", Status.FAIL, RAISED, model="m2")])
    view = build_client_impact(run)
    assert [(r.model, r.show_model, r.verdicts[0].state) for r in view.rows] == [
        ("m1", True, "works"), ("m2", True, "breaks")]


def test_a_step_quoted_inside_the_library_text_cannot_pose_as_the_step() -> None:
    line = f"{LANGCHAIN} raised on the chat_basic response (ChatOpenAI.invoke): ValueError: on the fake response (evil()): x"
    step = parse_step(line, LANGCHAIN)
    assert (step.probe, step.call) == ("chat_basic", "ChatOpenAI.invoke")
    assert step.detail == "ValueError: on the fake response (evil()): x"
    assert parse_step("something else entirely", LANGCHAIN) is None


def test_a_call_spelled_with_parentheses_is_read_whole() -> None:
    step = parse_step("openai-python on the stream_basic response (chat.completions.create(stream=True)): "
                      "received 3 chunks / the wire 4", "openai-python")
    assert step.call == "chat.completions.create(stream=True)" and step.detail == "received 3 chunks / the wire 4"


def test_a_run_without_client_checks_has_no_view() -> None:
    run = make_run([make_result("alpha", "chat.basic")])
    assert not build_matrix(run).clients
    assert "Will my stack work" not in render_markdown(run) and 'id="clients"' not in render_html(run)


# ---------------------------------------------------------------- summary.md and matrix.html


def test_summary_has_a_provider_by_library_table_then_the_breaking_steps() -> None:
    md = render_markdown(stack_run())
    section = md.split("### Will my stack work? Client libraries", 1)[1].split("\n### ", 1)[0]
    assert "| provider | openai-python | LangChain | LiteLLM | Vercel AI SDK |" in section
    assert "| `alpha` | ✓ | ✗ | – | ! |" in section
    assert "| `beta` | ✓ | ✓ | ✓ | · |" in section
    assert ("  - on the `tools_auto` response (`ChatOpenAI.bind_tools.invoke`) raised: TypeError\\: 'NoneType' "
            "is not iterable (exchange 4 of its evidence in matrix.html)") in section
    assert "  - on the `stream_usage` response (`ChatOpenAI.stream`) returned something other than the wire holds" in section
    assert "Vercel AI SDK (openai-compatible) no verdict: the replay worker does not start" in section
    assert "Not verified (not installed here): LiteLLM (Python SDK) (`conformance clients install litellm`)." in section


def test_many_broken_libraries_leave_room_for_the_matrix_in_summary_md() -> None:
    run = make_run([client(f"p{i}", "client.langchain", Status.FAIL, RAISED) for i in range(40)])
    md = render_markdown(run)
    assert "- … and 10 more broken libraries (matrix.html has them)" in md
    assert "### Matrix" in md


def test_the_page_has_the_stack_section_linking_each_step_to_its_exchange() -> None:
    run = stack_run()
    m = build_matrix(run)
    page = render_html(run)
    langchain = m.clients.row("alpha").verdicts[1]
    assert "Will my stack work?" in page
    assert f'data-goto="{langchain.evidence}" data-x="{PLAN.index("tools_auto")}">exchange 4</button>' in page
    assert "conformance clients install litellm" in page
    assert page_data(page)["clients"]["rows"][0]["verdicts"][1]["steps"][0]["probe"] == "tools_auto"


def hostile_run() -> RunResults:
    return make_run([
        client("alpha", "client.langchain", Status.FAIL, f"{LANGCHAIN} raised on the tools_auto response (ChatOpenAI.invoke): {HOSTILE}",
               notes=(f"also: {LANGCHAIN} on the chat_basic response (ChatOpenAI.invoke): {HOSTILE}",)),
        client("alpha", "client.vercel_ai", Status.ERROR, HOSTILE),
    ])


def test_hostile_library_text_is_bounded_and_inert_in_the_view() -> None:
    verdicts = build_client_impact(hostile_run()).row("alpha").verdicts
    for text in [verdicts[0].steps[0].detail, verdicts[0].steps[1].detail, verdicts[1].message]:
        assert len(text) < DETAIL + 200
        assert "\x1b" not in text and "\u202e" not in text and "\\x1b" in text


def test_hostile_library_text_is_inert_in_summary_md() -> None:
    md = render_markdown(hostile_run())
    section = md.split("### Will my stack work?", 1)[1].split("\n### ", 1)[0]
    assert len(section.encode()) < 4000
    assert "<script" not in section and "&lt;script&gt;" in section
    assert "[link](" not in section and "https://" not in section and "`@`" in section
    for line in section.splitlines():  # every line a table row or one bullet: no newline got through
        assert not line.startswith("# ")
        if line.startswith("|"):
            assert len(re.findall(r"(?<!\\)\|", line)) == 4  # provider + two libraries: no extra cell
    bullets = [line for line in section.splitlines() if line.lstrip().startswith("- ")]
    assert all("\\|" in b for b in bullets if "alert" in b)


def test_hostile_library_text_is_escaped_in_the_page_and_its_json() -> None:
    run = hostile_run()
    page = render_html(run)
    section = page.split('id="clients"', 1)[1].split("</section>", 1)[0]
    assert "<script>alert" not in section and "&lt;script&gt;alert(1)&lt;/script&gt;" in section
    assert "x" * (DETAIL + 100) not in section
    data = page.split('<script type="application/json" id="page-data">', 1)[1].split("</script>", 1)[0]
    assert "<script" not in data
    clients = page_data(page)["clients"]
    assert "<script>alert(1)</script>" in clients["rows"][0]["verdicts"][0]["steps"][0]["detail"]  # text, for textContent


# ---------------------------------------------------------------- the gate


def policy(**definition) -> dict:
    return {"mine": definition}


def test_a_policy_requiring_libraries_adopts_only_providers_where_each_passes() -> None:
    gate = evaluate_policy(stack_run(), "mine", policy(clients=["openai_python", "langchain"]))
    verdicts = {v.provider: v for v in gate.verdicts}
    assert gate.checks == ("client.openai_python", "client.langchain") and gate.clients == gate.checks
    assert verdicts["beta"].verdict == ADOPT
    assert verdicts["alpha"].verdict == REJECT
    assert [(i.check, i.status) for i in verdicts["alpha"].failing] == [("client.langchain", "fail")]
    assert "breaks on this provider" in verdicts["alpha"].failing[0].note


def test_a_required_library_that_was_not_installed_rejects_and_says_how_to_install_it() -> None:
    gate = evaluate_policy(stack_run(), "mine", policy(clients=["client.litellm"]))
    alpha = next(v for v in gate.verdicts if v.provider == "alpha")
    assert alpha.verdict == REJECT
    assert alpha.failing[0].status == "skipped"
    assert "not verified: install it (`conformance clients install litellm`)" in alpha.failing[0].note
    assert "required client libraries: litellm" in gate.to_text()


def test_a_required_library_without_a_result_rejects() -> None:
    gate = evaluate_policy(stack_run(), "mine", policy(clients=["vercel_ai"]))
    beta = next(v for v in gate.verdicts if v.provider == "beta")
    assert beta.verdict == REJECT and beta.failing[0].status == "missing"


def test_a_known_gap_does_not_excuse_a_broken_library_even_when_expected_failures_are_allowed() -> None:
    run = make_run([client("alpha", "client.langchain", Status.FAIL, RAISED, expected=Expectation(Status.FAIL, "known"))])
    gate = evaluate_policy(run, "mine", policy(clients=["langchain"], allow_expected=True))
    assert gate.verdicts[0].verdict == REJECT


@pytest.mark.parametrize("names, message", [
    (["langchian"], "unknown client library 'langchian' in `clients`; did you mean 'langchain'?"),
    (["nope"], "known: openai_python, openai_node, langchain"),
    ("langchain", "`clients` must be a list, e.g. [langchain]"),
])
def test_unknown_or_malformed_client_names_are_a_clear_error(names, message) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        evaluate_policy(stack_run(), "mine", policy(clients=names))


def test_clients_alone_select_only_the_clients_and_add_up_along_extends() -> None:
    run = stack_run()
    assert select_checks(resolve_policy("mine", policy(clients=["langchain"])), run)[0] == ()
    policies = {"base": {"clients": ["langchain"]}, "mine": {"extends": "base", "clients": ["vercel_ai"]}}
    assert resolve_policy("mine", policies)["clients"] == ["langchain", "vercel_ai"]
    chat = evaluate_policy(run, "mine", {"mine": {"extends": "chat", "clients": ["langchain"]}})
    assert "chat.basic" in chat.checks and chat.checks[-1] == "client.langchain"


# ---------------------------------------------------------------- in a browser


@pytest.mark.browser
@pytest.mark.slow
def test_in_a_browser_ticking_a_stack_gives_each_provider_a_verdict_and_a_step_opens_its_exchange(tmp_path) -> None:
    from pathlib import Path

    from conformance.report import write_reports

    if not Path("/usr/bin/chromium").exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs the Playwright package", exc_type=ImportError)
    write_reports(stack_run(), tmp_path)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox", "--disable-gpu"])
        try:
            pg = browser.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda e: errors.append(str(e)))
            pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            pg.goto((tmp_path / "matrix.html").as_uri())
            verdicts = lambda: pg.eval_on_selector_all("#clients-table td.stack-verdict", "ts => ts.map(t => t.textContent)")  # noqa: E731
            assert verdicts() == ["—", "—"]
            pg.check("#stack-pick input[value='1']")  # LangChain
            assert verdicts() == ["✗ breaks: LangChain", "✓ works"]
            pg.check("#stack-pick input[value='3']")  # the Vercel AI SDK: no verdict on alpha, no result on beta
            assert verdicts() == ["✗ breaks: LangChain", "? not verified: Vercel AI SDK"]
            pg.locator("#clients button[data-x]").first.click()
            assert pg.locator("#drawer").is_visible()
            assert "client.langchain · alpha / model-a" in pg.locator("#ev-title").inner_text()
            assert pg.locator("#ev-body h3.target").inner_text().lower() == "exchange 4"
            assert re.fullmatch(r"#e\d+x3", pg.evaluate("location.hash"))
            assert errors == []
        finally:
            browser.close()
