"""The sandbox datasets: the demo site shows every case it promises, synthetic ones scale."""

from __future__ import annotations

import re
from datetime import date
from html.entities import name2codepoint

import pytest
from lxml import etree

from followup.core.model import FindingCode
from followup.core.storage_format import extract
from followup.sandbox.dataset import Dataset, SeedPage
from followup.sandbox.seed import (
    DEMO_ADMIN,
    DEMO_PEOPLE,
    DEMO_TODAY,
    DEMO_USERS,
    DEMO_VIEWER,
    demo_dataset,
    synthetic_dataset,
)

AC = "http://atlassian.com/content"
RI = "http://atlassian.com/resource/identifier"
NS = {"ac": AC, "ri": RI}
XML_ENTITIES = {"amp", "lt", "gt", "quot", "apos"}


def text_of(element: etree._Element) -> str:
    return "".join(str(t) for t in element.itertext()).strip()


def parse_body(body: str) -> etree._Element:
    """A storage-format body as an XML tree: prefixes declared, HTML entities resolved."""

    def numeric(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in XML_ENTITIES or name not in name2codepoint:
            return match.group(0)
        return f"&#{name2codepoint[name]};"

    text = re.sub(r"&([A-Za-z][A-Za-z0-9]*);", numeric, body)
    wrapped = f'<root xmlns:ac="{AC}" xmlns:ri="{RI}">{text}</root>'
    return etree.fromstring(wrapped, etree.XMLParser(recover=False, resolve_entities=False))


@pytest.fixture(scope="module")
def demo() -> Dataset:
    return demo_dataset()


def postmortems(dataset: Dataset) -> list[SeedPage]:
    return [page for page in dataset.pages if "postmortem" in page.labels]


def test_demo_bodies_are_well_formed_storage_format(demo: Dataset) -> None:
    """Every demo body parses as XML once its prefixes and HTML entities are declared."""
    for page in demo.pages:
        root = parse_body(page.body)
        assert len(root) > 0, page.title


def test_demo_bodies_use_html_entities_macros_and_cdata(demo: Dataset) -> None:
    """The demo exercises what real bodies hold: entities, status, info, code with CDATA."""
    bodies = "".join(page.body for page in demo.pages)
    for entity in ("&nbsp;", "&rsquo;", "&mdash;"):
        assert entity in bodies
    assert bodies.count('ac:name="status"') >= 2
    assert 'ac:name="info"' in bodies
    assert 'ac:name="code"' in bodies
    assert "<![CDATA[" in bodies


def test_demo_has_two_spaces_its_projects_and_at_least_five_postmortems(demo: Dataset) -> None:
    """Two spaces; the OPS project with Task and Bug (where tickets go by default), a
    Payments and a Security project for routing (Security requiring a custom field), the
    incidents' project holding the incident a postmortem names; five or more
    postmortems in both spaces."""
    assert [s.key for s in demo.spaces] == ["SRE", "PAY"]
    assert [(p.key, p.name, p.issue_types) for p in demo.projects] == [
        ("OPS", "Operations", ("Task", "Bug")),
        ("PAY", "Payments", ("Task", "Story", "Bug")),
        ("SEC", "Security", ("Task",)),
        ("INC", "Incidents", ("Epic", "Task")),
    ]
    sec = demo.projects[2]
    assert [(f.name, f.required) for f in sec.custom_fields] == [("Risk rating", True)]
    assert [(i.project, i.number) for i in demo.issues if i.project == "INC"] == [("INC", 2264)]
    found = postmortems(demo)
    assert len(found) >= 5
    assert {page.space_key for page in found} == {"SRE", "PAY"}
    assert len({page.author for page in found}) >= 5


def test_demo_has_an_unrelated_page(demo: Dataset) -> None:
    """At least one page is not a postmortem (a runbook), so discovery has something to skip."""
    others = [page for page in demo.pages if "postmortem" not in page.labels]
    assert others
    assert any("runbook" in page.labels for page in others)


def test_demo_page_ids_and_titles_are_unique(demo: Dataset) -> None:
    """Page ids are fixed and distinct, and titles are unique within each space."""
    ids = [page.id for page in demo.pages]
    assert all(i is not None and i.isdigit() for i in ids)
    assert len(set(ids)) == len(ids)
    titles = [(page.space_key, page.title) for page in demo.pages]
    assert len(set(titles)) == len(titles)


def test_demo_tasks_are_cloud_shaped(demo: Dataset) -> None:
    """Tasks carry ids unique per page, uuids, a status and the Cloud placeholder span."""
    uuids: list[str] = []
    for page in demo.pages:
        root = parse_body(page.body)
        tasks = root.findall(".//ac:task", NS)
        ids = [t.findtext("ac:task-id", namespaces=NS) for t in tasks]
        assert len(set(ids)) == len(ids), page.title
        for task in tasks:
            assert task.findtext("ac:task-status", namespaces=NS) in ("complete", "incomplete")
            span = task.find("ac:task-body/span", NS)
            assert span is not None
            assert span.get("class") == "placeholder-inline-tasks"
            uuids.append(task.findtext("ac:task-uuid", namespaces=NS) or "")
    assert all(re.fullmatch(r"[0-9a-f-]{36}", u) for u in uuids)
    assert len(set(uuids)) == len(uuids)


def test_demo_covers_owners_and_dates_in_every_form(demo: Dataset) -> None:
    """Mentions in tasks and table cells, plain names, <time> and typed dates all appear."""
    owner_cells_with_mentions = owner_cells_plain = 0
    typed_dues: list[str] = []
    complete = bare_tasks = 0
    for page in postmortems(demo):
        root = parse_body(page.body)
        for task in root.iterfind(".//ac:task", NS):
            complete += task.findtext("ac:task-status", namespaces=NS) == "complete"
            body = task.find("ac:task-body", NS)
            assert body is not None
            if body.find(".//ri:user", NS) is None and body.find(".//time") is None:
                bare_tasks += 1
        for table in root.iter("table"):
            rows = table.findall(".//tr")
            header = [text_of(th) for th in rows[0].findall("th")]
            if "Owner" not in header:
                continue
            owner = header.index("Owner")
            due = next(i for i, h in enumerate(header) if h.startswith("Due"))
            for row in rows[1:]:
                cells = row.findall("td")
                if cells[owner].find(".//ri:user", NS) is not None:
                    owner_cells_with_mentions += 1
                elif text_of(cells[owner]):
                    owner_cells_plain += 1
                if cells[due].find(".//time") is None:
                    typed_dues.append(text_of(cells[due]))
    assert owner_cells_with_mentions >= 3
    assert owner_cells_plain >= 3
    assert "next sprint" in typed_dues
    assert "31 Dec 2026" in typed_dues
    assert complete >= 1
    assert bare_tasks >= 1


def test_demo_dates_straddle_demo_today(demo: Dataset) -> None:
    """With today at 2026-11-26 some due dates have passed and some have not."""
    days = [
        date.fromisoformat(t.get("datetime") or "")
        for page in postmortems(demo)
        for t in parse_body(page.body).iter("time")
    ]
    assert date(2026, 11, 26) == DEMO_TODAY
    assert sum(d < DEMO_TODAY for d in days) >= 3
    assert sum(d >= DEMO_TODAY for d in days) >= 3
    assert all(date(2026, 9, 1) <= d <= date(2027, 3, 31) for d in days)


def test_demo_hand_linked_item_points_at_an_unlabelled_existing_issue(demo: Dataset) -> None:
    """One item carries a jira macro for OPS-1: the first OPS issue, without our label."""
    keys = [
        macro.findtext("ac:parameter[@ac:name='key']", namespaces=NS)
        for page in postmortems(demo)
        for macro in parse_body(page.body).iterfind(".//ac:structured-macro[@ac:name='jira']", NS)
    ]
    assert keys == ["OPS-1"]
    ops = [issue for issue in demo.issues if issue.project == "OPS"]
    assert "followup" not in ops[0].labels
    assert not any(label.startswith("followup") for issue in ops for label in issue.labels)


def test_demo_issues_are_noise_with_some_done(demo: Dataset) -> None:
    """Pre-existing issues use the sandbox workflow; the done ones carry a resolution."""
    assert len(demo.issues) >= 5
    statuses = {issue.status for issue in demo.issues}
    assert statuses <= {"To Do", "In Progress", "Done"}
    assert "Done" in statuses
    for issue in demo.issues:
        assert (issue.status == "Done") == (issue.resolution is not None)
        assert issue.created.tzinfo is not None


def test_demo_users(demo: Dataset) -> None:
    """Admin first with a demo token, a read-only viewer, and people with real-format ids."""
    assert demo.users == DEMO_USERS
    assert demo.users[0] is DEMO_ADMIN
    assert (DEMO_ADMIN.email, DEMO_ADMIN.token) == ("admin@example.com", "sandbox-admin-token")
    assert not DEMO_ADMIN.read_only
    assert DEMO_VIEWER.read_only
    assert DEMO_VIEWER.email == "viewer@example.com"
    assert DEMO_VIEWER.token
    assert 6 <= len(DEMO_PEOPLE) <= 8
    for field in ("account_id", "name", "key", "email", "display_name"):
        values = [getattr(user, field) for user in demo.users]
        assert len(set(values)) == len(values), field
    for user in demo.users:
        assert re.fullmatch(
            r"[0-9]{6}:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{24}",
            user.account_id,
        ), user.account_id
        assert re.fullmatch(r"JIRAUSER[0-9]{5}", user.key)
        assert re.fullmatch(r"[a-z]+(\.[a-z]+)?", user.name)
        assert user.email.endswith("@example.com")
    assert any(re.fullmatch(r"[0-9a-f]{24}", user.account_id) for user in DEMO_PEOPLE)


def test_demo_mentions_and_authors_are_known_users(demo: Dataset) -> None:
    """Every mentioned account, page author, reporter and assignee exists in the dataset."""
    known = {user.account_id for user in demo.users}
    for page in demo.pages:
        assert page.author in known
        for user in parse_body(page.body).iterfind(".//ri:user", NS):
            assert user.get(f"{{{RI}}}account-id") in known
    for issue in demo.issues:
        assert issue.reporter in known
        assert issue.assignee is None or issue.assignee in known
    assert all(project.lead in known for project in demo.projects)


def test_demo_postmortems_sit_under_an_index_page_in_their_space(demo: Dataset) -> None:
    """Each postmortem's parent is an index page of its own space, so page trees have
    children to list; the index pages are not postmortems."""
    by_id = {page.id: page for page in demo.pages}
    for page in postmortems(demo):
        assert page.parent is not None, page.title
        parent = by_id[page.parent]
        assert parent.space_key == page.space_key
        assert "postmortem" not in parent.labels
    assert {by_id[p.parent].title for p in postmortems(demo) if p.parent} == {
        "Postmortems",
        "Incident reviews",
    }


def test_data_center_demo_names_people_by_userkey_and_on_an_older_page_by_username(
    demo: Dataset,
) -> None:
    """The Data Center demo is the same site written as Data Center stores it: mentions
    by `ri:userkey` (one older page by `ri:username`) and never by account id, tasks
    without uuids or the Cloud placeholder, tables without the Cloud editor's layout."""
    dc = demo_dataset("datacenter")
    assert [(p.id, p.title, p.parent) for p in dc.pages] == [
        (p.id, p.title, p.parent) for p in demo.pages
    ]
    by_key = {user.key: user for user in dc.users}
    by_name = {user.name: user for user in dc.users}
    keyed, named = set(), set()
    for page, cloud_page in zip(dc.pages, demo.pages, strict=True):
        assert "ri:account-id" not in page.body
        assert "ac:task-uuid" not in page.body
        assert "placeholder-inline-tasks" not in page.body
        assert "data-layout" not in page.body
        root = parse_body(page.body)
        mentions = list(root.iterfind(".//ri:user", NS))
        assert len(mentions) == len(list(parse_body(cloud_page.body).iterfind(".//ri:user", NS)))
        for user in mentions:
            if user.get(f"{{{RI}}}userkey") is not None:
                assert user.get(f"{{{RI}}}userkey") in by_key
                keyed.add(page.id)
            else:
                assert user.get(f"{{{RI}}}username") in by_name
                named.add(page.id)
    assert len(keyed) >= 3
    assert len(named) == 1
    assert not keyed & named
    items = [
        i for p in dc.pages if "postmortem" in p.labels for i in extract(p.body, p.id or "").items
    ]
    assert {i.owner.kind for i in items if i.owner} == {"userkey", "username", "name"}


def test_demo_is_identical_every_time() -> None:
    """The demo is fixed data: two builds are equal, macro ids and task uuids included."""
    assert demo_dataset() == demo_dataset()


def test_demo_extracts_to_the_findings_it_is_meant_to_show(demo: Dataset) -> None:
    """Read by followup's extractor, the demo yields each kind of item finding it exists for."""
    codes: set[FindingCode] = set()
    tickets: list[str] = []
    items = 0
    for page in postmortems(demo):
        assert page.id is not None
        extraction = extract(page.body, page.id)
        codes |= {finding.code for finding in extraction.findings}
        tickets += [item.ticket for item in extraction.items if item.ticket]
        items += len(extraction.items)
    assert items >= 20
    assert tickets == ["OPS-1"]
    assert {
        FindingCode.MISSING_OWNER,
        FindingCode.MISSING_DUE_DATE,
        FindingCode.UNPARSEABLE_DUE_DATE,
        FindingCode.AMBIGUOUS_DUE_DATE,
        FindingCode.NO_ACTION_ITEMS,
    } <= codes
    assert FindingCode.UNPARSEABLE_PAGE not in codes


def test_synthetic_is_deterministic_in_its_seed() -> None:
    """The same seed builds the same dataset; another seed builds a different one."""
    one = synthetic_dataset(pages=30, items_per_page=4, seed=7)
    assert one == synthetic_dataset(pages=30, items_per_page=4, seed=7)
    assert one.pages != synthetic_dataset(pages=30, items_per_page=4, seed=8).pages


@pytest.mark.parametrize(
    ("pages", "items", "spaces"), [(0, 5, 4), (1, 0, 1), (40, 3, 6), (9, 14, 2)]
)
def test_synthetic_is_sized_as_asked(pages: int, items: int, spaces: int) -> None:
    """`pages` postmortems with `items` action items each, spread over `spaces` spaces."""
    dataset = synthetic_dataset(pages=pages, items_per_page=items, seed=1, spaces=spaces)
    assert len(dataset.spaces) == spaces
    assert len(dataset.pages) == pages
    assert {page.space_key for page in dataset.pages} <= {s.key for s in dataset.spaces}
    if pages >= spaces:
        assert {page.space_key for page in dataset.pages} == {s.key for s in dataset.spaces}
    for page in dataset.pages:
        assert page.id is None
        assert page.labels == ("postmortem",)
        root = parse_body(page.body)
        tasks = root.findall(".//ac:task", NS)
        rows = root.findall(".//table/tbody/tr")
        assert len(tasks) + max(len(rows) - 1, 0) == items
    titles = [(page.space_key, page.title) for page in dataset.pages]
    assert len(set(titles)) == len(titles)


def test_synthetic_mixes_forms_and_leaves_some_fields_out() -> None:
    """Task lists and tables both occur, and some items lack an owner or a due date."""
    dataset = synthetic_dataset(pages=60, items_per_page=5, seed=3)
    codes: set[FindingCode] = set()
    sources: set[str] = set()
    for n, page in enumerate(dataset.pages):
        extraction = extract(page.body, str(n))
        assert len(extraction.items) == 5
        sources |= {item.source for item in extraction.items}
        codes |= {finding.code for finding in extraction.findings}
    assert sources == {"task", "table"}
    assert {FindingCode.MISSING_OWNER, FindingCode.MISSING_DUE_DATE} <= codes
    sizes = [len(page.body) for page in dataset.pages]
    assert 1_000 < sum(sizes) / len(sizes) < 4_500


def test_synthetic_rejects_nonsense_sizes() -> None:
    """Negative sizes and zero spaces are caller errors."""
    with pytest.raises(ValueError, match="negative"):
        synthetic_dataset(pages=-1, items_per_page=1, seed=0)
    with pytest.raises(ValueError, match="at least one space"):
        synthetic_dataset(pages=1, items_per_page=1, seed=0, spaces=0)
