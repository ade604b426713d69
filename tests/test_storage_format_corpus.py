"""A corpus of postmortem pages shaped like the ones teams write, each with the items
(and findings) a person reading it would list: revision histories, timelines, change
logs, release notes and decision logs give none; action items come from tasks and
tables filled in the ways people fill them. The origin of each page is in
tests/storage_format/real/SOURCES.md; its expected items sit beside it.

`FOLLOWUP_UPDATE_CORPUS=1` writes what extraction gives now as the expectation of a
page that has none; every expectation was then read against its page by hand.
"""

from __future__ import annotations

import json
import os
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from followup.core.model import Badge, BadgeColour, Extraction, ItemChange, Owner
from followup.core.storage_format import extract, render
from followup.core.storage_format.extract import read_page
from followup.core.storage_format.xml import parse
from followup.core.vocabulary import DEFAULT_VOCABULARY, Vocabulary
from followup.settings import ExtractSettings

CORPUS = Path(__file__).parent / "storage_format" / "real"
PAGES = sorted(CORPUS.glob("*.xml"))
UPDATE = os.environ.get("FOLLOWUP_UPDATE_CORPUS") == "1"


def vocabulary(name: str | None) -> Vocabulary:
    """A language's vocabulary, read from its `[extract]` settings file."""
    if name is None:
        return DEFAULT_VOCABULARY
    data = tomllib.loads((CORPUS / f"vocabulary-{name}.toml").read_text(encoding="utf-8"))
    return ExtractSettings(**data["extract"]).vocabulary()


def as_json(extraction: Extraction) -> dict[str, Any]:
    return {
        "items": [
            {
                "key": item.key,
                "text": item.text,
                "owner": item.owner.ref if item.owner else None,
                "due": item.due.isoformat() if item.due else None,
                "done": item.done,
                "ticket": item.ticket,
                "source": item.source,
                "badge": f"{item.badge.title} ({item.badge.colour})" if item.badge else None,
                "priority": item.priority,
                "unreadable": sorted(item.unreadable),
                "locked": sorted(item.locked),
            }
            for item in extraction.items
        ],
        "findings": [
            f"{finding.code} {finding.item or ''}".strip() for finding in extraction.findings
        ],
    }


def test_the_corpus_is_large_enough() -> None:
    """The corpus holds at least twenty pages, each with its expectation and origin."""
    assert len(PAGES) >= 20
    sources = (CORPUS / "SOURCES.md").read_text(encoding="utf-8")
    for page in PAGES:
        assert "items" in json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
        assert page.name in sources, page.name


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_corpus_page_gives_exactly_its_items(page: Path) -> None:
    """Extraction gives exactly the items and findings a person reading the page lists."""
    expected_file = page.with_suffix(".json")
    expected: dict[str, Any] = (
        json.loads(expected_file.read_text(encoding="utf-8")) if expected_file.exists() else {}
    )
    got = as_json(
        extract(
            page.read_text(encoding="utf-8"),
            page.stem[:2],
            vocabulary=vocabulary(expected.get("vocabulary")),
        )
    )
    if UPDATE and "items" not in expected:
        expected_file.write_text(
            json.dumps(expected | got, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        pytest.skip("expectation written: read it against the page")
    assert "items" in expected, f"{expected_file.name} has no expectation"
    assert got == {"items": expected["items"], "findings": expected["findings"]}


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_corpus_page_takes_every_change_it_can_show(page: Path) -> None:
    """Each corpus page, given a new ticket, badge, owner, due date and status for every
    item, shows them all afterwards except in fields locked by a person's text or
    missing from its table (which keep their value), keeps every item's text and key,
    and a second render with the same changes changes nothing."""
    expected = json.loads(page.with_suffix(".json").read_text(encoding="utf-8"))
    words = vocabulary(expected.get("vocabulary"))
    body = page.read_text(encoding="utf-8")
    before = extract(body, "p", vocabulary=words).items
    columns = {
        found.key: set(found.table.columns) if found.table else {"owner", "due", "status"}
        for found in read_page(parse(body), "p", vocabulary=words).items
    }
    badge = Badge("IN PROGRESS", BadgeColour.BLUE)
    owner = Owner("account_id", "557058:new-owner")
    due = date(2027, 6, 30)
    changes = {
        item.key: ItemChange(
            ticket="OPS-9000", badge=badge, owner=owner, due=due, done=not item.done
        )
        for item in before
    }
    out = render(body, "p", changes, vocabulary=words)
    after = {item.key: item for item in extract(out, "p", vocabulary=words).items}
    assert list(after) == [item.key for item in before]
    for item in before:
        shown = after[item.key]
        assert shown.text == item.text
        assert shown.ticket == "OPS-9000"
        assert shown.badge == badge
        shows = columns[item.key] - {f"{field}" for field in item.locked}
        assert shown.owner == (owner if "owner" in shows else item.owner)
        assert shown.due == (due if "due" in shows else item.due)
        can_tick = "status" in shows and "done" not in item.locked
        assert shown.done == (not item.done if can_tick else item.done)
    assert render(out, "p", changes, vocabulary=words) == out
