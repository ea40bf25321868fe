"""The check catalog is data: valid, fully implemented, and the README's table is generated from it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from conformance.catalog import NEEDS, load_catalog
from conformance.checks import REGISTRY, missing_checks
from conformance.cli import checks_markdown, main
from conformance.providers import CAPABILITIES
from conformance.results import Level, Status

README = Path(__file__).resolve().parent.parent / "README.md"
CATALOG_SCHEMA = Path(__file__).resolve().parent.parent / "conformance" / "data" / "schemas" / "catalog.schema.json"


def test_every_catalog_check_has_a_function_and_every_function_an_entry() -> None:
    assert missing_checks() == []
    assert set(REGISTRY) == set(load_catalog().ids)


def test_ids_are_area_dot_name_and_unique() -> None:
    ids = load_catalog().ids
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z]+\.[a-z0-9_]+", i) for i in ids)


def test_titles_are_unique_and_short() -> None:
    titles = [c.title for c in load_catalog().checks]
    assert len(titles) == len(set(titles))
    assert all(len(t) <= 110 for t in titles)


def test_readme_check_table_matches_the_catalog() -> None:
    text = README.read_text(encoding="utf-8")
    table = text.split("<!-- checks:begin -->", 1)[1].split("<!-- checks:end -->", 1)[0].strip()
    assert table == checks_markdown(), "regenerate with: conformance list-checks --format markdown"


def test_list_checks_prints_every_check(capsys) -> None:
    assert main(["list-checks"]) == 0
    out = capsys.readouterr().out
    for check_id in load_catalog().ids:
        assert check_id in out


def test_what_a_clean_refusal_counts_as_is_catalog_data() -> None:
    catalog = load_catalog()
    refusals = {c.refusal for c in catalog.checks}
    assert refusals == {Status.FAIL, Status.UNSUPPORTED}
    # An optional feature (level may) may always be refused; a must never.
    assert all(c.refusal is Status.UNSUPPORTED for c in catalog.checks if c.level is Level.MAY)
    assert all(c.refusal is Status.FAIL for c in catalog.checks if c.level is Level.MUST)


def test_the_capabilities_a_check_needs_are_the_providers_capabilities() -> None:
    schema = json.loads(CATALOG_SCHEMA.read_text(encoding="utf-8"))
    needs = schema["properties"]["checks"]["items"]["properties"]["needs"]["enum"]
    assert tuple(needs) == NEEDS == ("provider", *CAPABILITIES)
    assert {c.needs for c in load_catalog().checks} <= set(NEEDS)
