"""matrix.html in a real browser: headless Chromium (Debian's /usr/bin/chromium) driven by Playwright.

Specifies what only a browser can show: the page loads from file:// with no console error (a CSP
hash mismatch or a script error would show here), the filters hide and show rows and columns,
sorting reorders, a cell opens its evidence, and a hostile payload is displayed as text and never
executed (it would set window.__pwned).

Needs `pip install playwright` (the Python package and its driver only) and `apt-get install
chromium`; never `playwright install`, which downloads a browser. Skipped with the reason when
either is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance.report import write_reports
from conformance.report.samples import exchange, make_result, make_run, synthetic_run
from conformance.results import Evidence, Expectation, Finding, SchemaError, Status

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "headless browser tests need Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Playwright package (pip install playwright)",
    exc_type=ImportError,
)

ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PWN = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script></script><svg onload="window.__pwned=3">'


def page_run():
    """Three providers: a clean one, a hostile one, and one that differs on a few checks."""
    checks = ["chat.basic", "chat.stop", "chat.n", "stream.framing", "stream.chunk_schema", "models.list", "tools.auto"]
    results = []
    for name in ("clean", "other"):
        for c in checks:
            status = Status.FAIL if (name, c) in {("other", "chat.stop"), ("other", "stream.framing")} else Status.PASS
            results.append(
                make_result(
                    name,
                    c,
                    status,
                    model="m",
                    message="received x / expected y" if status is Status.FAIL else "",
                    evidence=Evidence(exchanges=(exchange(),)),
                )
            )
    evil_ev = Evidence(
        exchanges=(exchange(answer=PWN), exchange(answer=PWN, stream=True)),
        schema_errors=(
            SchemaError("chat_completion", "/choices/0", "type", PWN, PWN, "must"),
        ),
        findings=(Finding(PWN, PWN),),
        notes=(PWN,),
    )
    for c in checks:
        results.append(
            make_result(
                "evil",
                c,
                Status.FAIL if c == "chat.basic" else Status.UNSUPPORTED if c == "chat.n" else Status.PASS,
                model=PWN,
                message=PWN,
                evidence=evil_ev,
                expected=Expectation(Status.FAIL, PWN, "javascript:window.__pwned=4") if c == "chat.basic" else None,
            )
        )
    providers = [
        {"name": "clean", "models": {"chat": ["m"], "tools": ["m"]}, "status": "active"},
        {
            "name": "other",
            "models": {"chat": ["m"], "tools": ["m"]},
            "status": "active",
            "claims": {"m": {"streaming": True}},
        },
        {
            "name": "evil",
            "base_url": PWN,
            "models": {"chat": [PWN], "tools": [PWN]},
            "tags": [PWN],
            "status": "active",
            "claims": {PWN: {PWN: True}},
        },
    ]
    return make_run(results, providers=providers, incomplete=True, incomplete_reason=PWN)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def report_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    out = tmp_path_factory.mktemp("report")
    baseline = make_run(
        [make_result("clean", "chat.basic", Status.FAIL, model="m"), make_result("other", "chat.stop", model="m")]
    )
    write_reports(page_run(), out, baseline=baseline)
    return (out / "matrix.html").as_uri()


class Page:
    """A loaded matrix.html plus every console error and uncaught exception it produced."""

    def __init__(self, page: object, errors: list[str]) -> None:
        self.page, self.errors = page, errors

    def visible_checks(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "tr.check", "rs => rs.filter(r => r.offsetParent !== null).map(r => r.dataset.check)"
        )

    def visible_providers(self) -> list[str]:
        return self.page.eval_on_selector_all(
            "th.prov", "hs => hs.filter(h => h.offsetParent !== null).map(h => h.dataset.name)"
        )


@pytest.fixture
def page(browser: object, report_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    pg = context.new_page()
    errors: list[str] = []
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on(
        "request",
        lambda r: errors.append(f"network request: {r.url}") if not r.url.startswith(("file:", "data:")) else None,
    )
    pg.goto(report_url)
    yield Page(pg, errors)
    context.close()


def test_page_loads_without_console_errors_or_network(page: Page) -> None:
    page.page.locator("td.cell.st-fail").first.click()
    page.page.keyboard.press("Escape")
    page.page.select_option("#s-cols", "name")
    assert page.errors == []
    assert page.page.title().startswith("OpenAI compatibility matrix")
    assert page.page.locator("#shown-count").inner_text().endswith("checks shown")


def test_area_level_and_search_filters_hide_and_show_rows(page: Page) -> None:
    pg = page.page
    everything = page.visible_checks()
    assert "chat.basic" in everything and "stream.framing" in everything
    pg.select_option("#f-area", "stream")
    assert page.visible_checks() == ["stream.framing", "stream.chunk_schema"]
    pg.select_option("#f-area", "")
    pg.locator("input[name=level][value=may]").uncheck()
    assert "chat.n" not in page.visible_checks() and "chat.basic" in page.visible_checks()
    pg.locator("input[name=level][value=may]").check()
    pg.fill("#f-search", "framing")
    assert page.visible_checks() == ["stream.framing"]
    pg.click("#f-reset")
    assert page.visible_checks() == everything


def test_status_filter_keeps_rows_with_a_matching_cell(page: Page) -> None:
    page.page.select_option("#f-status", "fail")
    assert set(page.visible_checks()) == {"chat.basic", "chat.stop", "stream.framing"}
    page.page.select_option("#f-status", "unsupported")
    assert page.visible_checks() == ["chat.n"]


def test_provider_filter_hides_columns_and_only_differences_hides_agreeing_rows(page: Page) -> None:
    pg = page.page
    pg.click("#f-providers summary")
    pg.locator("input[name=provider]").nth(2).uncheck()  # evil
    assert page.visible_providers() == ["clean", "other"]
    assert pg.locator("td.cell.hide-col").count() > 0
    pg.locator("#f-diff").check()
    # with evil hidden, clean and other disagree only where other fails
    assert set(page.visible_checks()) == {"chat.stop", "stream.framing"}
    pg.locator("input[name=provider]").nth(1).uncheck()  # other: one provider left, nothing differs
    assert page.visible_checks() == []
    assert pg.locator("#empty-note").is_visible()


def test_sorting_reorders_providers_and_rows(page: Page) -> None:
    pg = page.page
    pg.select_option("#s-cols", "name")
    assert page.visible_providers() == ["clean", "evil", "other"]
    models = pg.eval_on_selector_all("tr.model-row th", "hs => hs.map(h => h.dataset.p)")
    assert models == pg.eval_on_selector_all("th.prov", "hs => hs.map(h => h.dataset.p)")  # sub-headers follow
    pg.select_option("#s-rows", "bad")
    chat_rows = pg.eval_on_selector_all("tbody[data-area=chat] tr.check", "rs => rs.map(r => r.dataset.check)")
    # chat.basic fails only where that is expected, so it has no unexpected failure and sorts last
    assert chat_rows == ["chat.stop", "chat.n", "chat.basic"]
    pg.select_option("#s-rows", "order")
    assert pg.eval_on_selector_all("tbody[data-area=chat] tr.check", "rs => rs.map(r => r.dataset.check)") == [
        "chat.basic",
        "chat.stop",
        "chat.n",
    ]


def test_a_cell_opens_its_evidence(page: Page) -> None:
    pg = page.page
    cell = pg.locator("tr[data-check='chat.stop'] td.cell.st-fail")
    cell.click()
    drawer = pg.locator("#drawer")
    assert drawer.is_visible()
    assert "chat.stop · other / m" in pg.locator("#ev-title").inner_text()
    body = pg.locator("#ev-body").inner_text()
    assert "received x / expected y" in body
    assert "curl" in body and "$API_KEY" in body
    assert "POST https://api.example/v1/chat/completions" in body
    assert "latency" in body
    pg.keyboard.press("Escape")
    assert not drawer.is_visible()


def test_changes_panel_lists_regressions_first_and_jumps_to_the_cell(page: Page) -> None:
    pg = page.page
    kinds = pg.eval_on_selector_all("#changes li .chg-kind", "els => els.map(e => e.textContent)")
    assert kinds[0].startswith("▼ regression")
    pg.locator("#changes button[data-goto]").first.click()
    assert pg.locator("#drawer").is_visible()
    assert "regression: was pass" in pg.locator("#ev-body").inner_text()


def test_hostile_payload_is_text_and_never_executes(page: Page) -> None:
    pg = page.page
    evil_cell = pg.locator("tr[data-check='chat.basic'] td.cell.st-fail").last
    evil_cell.click()
    body = pg.locator("#ev-body").inner_text()
    assert "<script>window.__pwned=2</script>" in body  # shown literally
    assert pg.locator("#ev-body a").count() == 0  # the javascript: link is not a link
    pg.select_option("#s-cols", "must")
    pg.wait_for_timeout(100)
    assert pg.evaluate("typeof window.__pwned") == "undefined"
    assert pg.locator("script").count() == 2
    assert PWN in pg.locator("tr.model-row").inner_text()  # the model name, as text, in the header
    assert page.errors == []


def test_a_large_report_loads_and_filters(browser: object, tmp_path: Path) -> None:
    write_reports(synthetic_run(12, 60), tmp_path)
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto((tmp_path / "matrix.html").as_uri())
    pg.select_option("#f-status", "notpass")
    shown = pg.locator("#shown-count").inner_text()
    assert shown.endswith("checks shown") and not shown.startswith("60 of")
    context.close()
    assert errors == []
