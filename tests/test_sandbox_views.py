"""The sandbox's HTML views: `storage_to_html` on its own (pure), then the pages a person
opens in a browser, served by the real sandbox app without credentials."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime

import httpx
import pytest
import requests

from followup.sandbox import control
from followup.sandbox.dataset import Dataset, SeedIssue, SeedPage, SeedProject, SeedSpace
from followup.sandbox.server import start_in_thread
from followup.sandbox.state import JIRA_SERVER_ID, SandboxState, User
from followup.sandbox.storage_html import storage_to_html
from followup.sandbox.views import adf_to_text, title_slug

ALICE = User("557058:alice", "alice", "JIRAUSER1", "Alice Example", "alice@example.com", "t-a")
CAROL = User("557058:carol", "carol", "JIRAUSER3", "Carol <b>Bold</b>", "carol@example.com", None)

ISSUES = {
    "OPS-1": ("In Progress", "indeterminate", "Rotate the <b>keys</b>"),
    "OPS-2": ("Done", "done"),
}
NAMES = {"557058:carol": "Carol Example", "JIRAUSER3": "Carol Example"}


def render(body: str) -> str:
    return storage_to_html(body, issue_status=ISSUES.get, user_name=NAMES.get)


def task(task_id: int, status: str, body: str) -> str:
    return (
        f"<ac:task><ac:task-id>{task_id}</ac:task-id><ac:task-status>{status}</ac:task-status>"
        f"<ac:task-body>{body}</ac:task-body></ac:task>"
    )


def macro(name: str, **params: str) -> str:
    inner = "".join(f'<ac:parameter ac:name="{k}">{v}</ac:parameter>' for k, v in params.items())
    return f'<ac:structured-macro ac:name="{name}">{inner}</ac:structured-macro>'


# -- storage_to_html ---------------------------------------------------------------------


def test_tasks_are_disabled_checkboxes_checked_when_complete() -> None:
    """A complete task shows a ticked box, an incomplete one an empty box; neither is editable."""
    out = render(
        "<ac:task-list>"
        + task(1, "complete", "done thing")
        + task(2, "incomplete", "open thing")
        + "</ac:task-list>"
    )
    boxes = re.findall(r"<input [^>]*>", out)
    assert boxes == [
        '<input type="checkbox" disabled checked>',
        '<input type="checkbox" disabled>',
    ]
    assert 'data-task-id="1"' in out
    assert "done thing" in out
    assert "open thing" in out


@pytest.mark.parametrize(
    ("colour", "css"),
    [
        ("Grey", "grey"),
        ("Red", "red"),
        ("Yellow", "yellow"),
        ("Green", "green"),
        ("Blue", "blue"),
        ("green", "green"),
        ("Purple", "grey"),
    ],
)
def test_status_macros_are_lozenges_of_their_colour(colour: str, css: str) -> None:
    """The five macro colours map to lozenge classes (case-insensitive; unknown is grey)."""
    out = render(macro("status", title="OVERDUE", colour=colour))
    assert f'class="lozenge lozenge-{css}"' in out
    assert ">OVERDUE</span>" in out


@pytest.mark.parametrize(
    ("key", "shown", "css"),
    [("OPS-1", "IN PROGRESS", "blue"), ("OPS-2", "DONE", "green")],
)
def test_jira_macros_link_to_the_issue_with_its_live_status(key: str, shown: str, css: str) -> None:
    """A jira macro is a link to /browse/KEY followed by the ticket's status from Jira,
    as a subtle lozenge coloured by status category (as Confluence shows it)."""
    out = render(macro("jira", key=key))
    assert f'<a class="jira-issue" href="/browse/{key}">{key}</a>' in out
    assert (
        f'<span class="lozenge lozenge-{css} lozenge-subtle" data-colour="{css.capitalize()}">'
        f"{shown}"
    ) in out


def test_a_jira_macro_shows_the_summary_unless_told_not_to() -> None:
    """Confluence shows key, summary and status; `showSummary=false` leaves the summary
    out. A Cloud smart link to the issue shows the same card, summary included."""
    full = render(macro("jira", key="OPS-1"))
    bare = render(macro("jira", key="OPS-1", showSummary="false"))
    card = render(
        '<p><a href="https://acme.atlassian.net/browse/OPS-1" data-card-appearance="inline">'
        "https://acme.atlassian.net/browse/OPS-1</a></p>"
    )
    summary = '<span class="jira-summary">Rotate the &lt;b&gt;keys&lt;/b&gt;</span>'
    assert summary in full
    assert "jira-summary" not in bare
    assert "IN PROGRESS" in bare
    assert summary in card
    assert "IN PROGRESS" in card
    assert '<a class="jira-issue" href="/browse/OPS-1">OPS-1</a>' in card


def test_a_jira_macro_of_another_application_link_shows_nothing_of_an_issue() -> None:
    """A macro naming a serverId the sandbox's Confluence has no link for shows that
    its server cannot be found, as Confluence does, and nothing of the same-keyed
    issue in the sandbox's Jira; one naming the sandbox's own link shows the issue."""
    other = render(macro("jira", server="Partner JIRA", serverId="link-partner", key="OPS-1"))
    assert "UNABLE TO LOCATE JIRA SERVER" in other
    assert "IN PROGRESS" not in other
    assert "Rotate" not in other
    assert "href" not in other
    ours = render(macro("jira", server="System Jira", serverId=JIRA_SERVER_ID, key="OPS-1"))
    assert "IN PROGRESS" in ours


def test_a_jira_macro_for_a_missing_issue_says_so() -> None:
    """An unknown key still links, with a NOT FOUND lozenge instead of a status."""
    out = render(macro("jira", key="OPS-404"))
    assert 'href="/browse/OPS-404"' in out
    assert "NOT FOUND" in out


def test_mentions_show_display_names_for_account_ids_and_userkeys() -> None:
    """ri:user by account id (Cloud) or userkey (Data Center) shows @Display Name."""
    cloud = render('<p><ac:link><ri:user ri:account-id="557058:carol" /></ac:link></p>')
    dc = render('<p><ac:link><ri:user ri:userkey="JIRAUSER3" /></ac:link></p>')
    unknown = render('<p><ac:link><ri:user ri:account-id="ghost" /></ac:link></p>')
    assert '<span class="mention">@Carol Example</span>' in cloud
    assert '<span class="mention">@Carol Example</span>' in dc
    assert "@unknown user ghost" in unknown


def test_dates_headings_tables_and_browse_links() -> None:
    """<time> shows its date; tables and headings stay; /browse links on any site go local."""
    out = render(
        '<h2>Actions</h2><table><tbody><tr><th colspan="2" onclick="x()">Due</th></tr>'
        '<tr><td><time datetime="2024-06-01" /></td><td>'
        '<a href="https://acme.atlassian.net/browse/OPS-2">OPS-2</a></td></tr></tbody></table>'
    )
    assert "<h2>Actions</h2>" in out
    assert '<th colspan="2">Due</th>' in out
    assert '<time datetime="2024-06-01">1 Jun 2024</time>' in out
    assert '<a class="jira-link" href="/browse/OPS-2">OPS-2</a>' in out


def test_code_panel_and_expand_macros() -> None:
    """Code shows as escaped preformatted text; panels and expands keep their body."""
    out = render(
        '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[if a < b: run()]]>'
        "</ac:plain-text-body></ac:structured-macro>"
        '<ac:structured-macro ac:name="info"><ac:parameter ac:name="title">Note</ac:parameter>'
        "<ac:rich-text-body><p>inside</p></ac:rich-text-body></ac:structured-macro>"
        '<ac:structured-macro ac:name="expand"><ac:rich-text-body><p>hidden</p>'
        "</ac:rich-text-body></ac:structured-macro>"
    )
    assert "<pre><code>if a &lt; b: run()</code></pre>" in out
    assert '<div class="panel panel-info"><div class="panel-title">Note</div><p>inside</p>' in out
    assert "<details><summary>Click here to expand...</summary><p>hidden</p></details>" in out


HOSTILE = [
    # text that looks like markup, as a task body holds it
    (task(1, "incomplete", "&lt;script&gt;alert(1)&lt;/script&gt;"), "&lt;script&gt;"),
    # a script element stored in the page: dropped with its content
    ("<p>before</p><script>alert(2)</script><p>after</p>", "before"),
    # event handlers and javascript: links
    ('<p onmouseover="alert(3)"><a href="javascript:alert(4)">x</a></p>', "<span>x</span>"),
    # markup in a macro parameter
    (macro("status", title="&lt;img src=x onerror=alert(5)&gt;"), "&lt;img src=x"),
    # markup in a CDATA section
    (
        '<ac:structured-macro ac:name="code"><ac:plain-text-body><![CDATA[</pre><script>x()'
        "</script>]]></ac:plain-text-body></ac:structured-macro>",
        "&lt;/pre&gt;&lt;script&gt;",
    ),
]


@pytest.mark.parametrize(("body", "visible"), HOSTILE)
def test_hostile_text_is_shown_as_text_never_markup(body: str, visible: str) -> None:
    """No script element, event handler or javascript: URL survives rendering."""
    out = render(body)
    assert visible in out
    assert "<script" not in out.lower()
    assert "onmouseover" not in out
    assert "onerror=" not in out.replace("&lt;img src=x onerror=", "")
    assert "javascript:" not in out
    assert "alert(2)" not in out


def test_display_names_are_escaped_too() -> None:
    """A person's name is data: markup in it shows as text."""
    out = storage_to_html(
        '<ac:link><ri:user ri:account-id="x" /></ac:link>',
        issue_status=ISSUES.get,
        user_name=lambda _: "<b>Eve</b>",
    )
    assert "@&lt;b&gt;Eve&lt;/b&gt;" in out


def test_an_unparseable_body_is_shown_as_escaped_source_under_a_notice() -> None:
    """A broken page still renders: the error, then its source as text."""
    out = render("<p>broken <b>markup</p><script>x</script>")
    assert "not valid storage format" in out
    assert "&lt;p&gt;broken" in out
    assert "<script" not in out


def test_adf_descriptions_become_text() -> None:
    """Jira v3 descriptions (ADF) show as plain text with paragraphs."""
    doc = {
        "type": "doc",
        "version": 1,
        "content": [
            {"type": "paragraph", "content": [{"type": "text", "text": "First"}]},
            {"type": "paragraph", "content": [{"type": "text", "text": "Second"}]},
        ],
    }
    assert adf_to_text(doc) == "First\nSecond"
    assert title_slug("Postmortem: DB outage (2024)") == "Postmortem+DB+outage+2024"


# -- the views, served -------------------------------------------------------------------

PAGE = (
    "<h1>Action items</h1><ac:task-list>"
    + task(1, "complete", "Rotate keys " + macro("jira", key="OPS-1"))
    + task(
        2,
        "incomplete",
        "Add alert &lt;script&gt;alert(1)&lt;/script&gt; "
        '<ac:link><ri:user ri:account-id="557058:carol" /></ac:link> '
        + macro("status", title="OVERDUE", colour="Red"),
    )
    + "</ac:task-list>"
)


@dataclass
class Served:
    url: str
    state: SandboxState
    page_id: int


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    state = SandboxState()
    control.init_schemas(state)
    control.load_dataset(
        state,
        Dataset(
            users=(ALICE, CAROL),
            spaces=(SeedSpace("PM", "Postmortems"),),
            pages=(SeedPage("PM", "DB outage <2024>", PAGE, ALICE.account_id, datetime.now(UTC)),),
            projects=(SeedProject("OPS", "Operations", ALICE.account_id),),
            issues=(
                SeedIssue(
                    "OPS",
                    "Rotate keys <now>",
                    ALICE.account_id,
                    datetime(2024, 5, 1, tzinfo=UTC),
                    description="Why: leaked.\n\nHow: vault.",
                    assignee=CAROL.account_id,
                    duedate=date(2024, 6, 1),
                    status="In Progress",
                    labels=("followup", "followup-98000001"),
                ),
            ),
        ),
    )
    with state.lock:
        page_id = int(state.db.execute("SELECT id FROM content").fetchone()[0])
    with start_in_thread(state) as running:
        yield Served(running.url, state, page_id)


def test_index_lists_spaces_pages_and_issues(served: Served) -> None:
    """/ links every space, page and issue, with the issue's status and assignee."""
    html = requests.get(served.url + "/", timeout=5).text
    assert 'href="/wiki/spaces/PM"' in html
    assert f'href="/wiki/spaces/PM/pages/{served.page_id}/DB+outage+2024"' in html
    assert "DB outage &lt;2024&gt;" in html
    assert 'href="/browse/OPS-1"' in html
    assert "Rotate keys &lt;now&gt;" in html
    assert "lozenge-blue" in html
    assert "Carol &lt;b&gt;Bold&lt;/b&gt;" in html


def test_the_page_json_webui_link_opens_the_rendered_page(served: Served) -> None:
    """`_links.webui` (relative to `<origin>/wiki`) is the page view, no login needed."""
    api = requests.get(
        f"{served.url}/wiki/rest/api/content/{served.page_id}",
        auth=(ALICE.email, ALICE.token or ""),
        timeout=5,
    ).json()
    response = requests.get(served.url + "/wiki" + api["_links"]["webui"], timeout=5)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert '<input type="checkbox" disabled checked>' in html
    assert '<input type="checkbox" disabled>' in html
    assert 'class="lozenge lozenge-red"' in html
    assert '<a class="jira-issue" href="/browse/OPS-1">OPS-1</a>' in html
    assert "IN PROGRESS" in html
    assert "@Carol &lt;b&gt;Bold&lt;/b&gt;" in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()


def test_the_jira_status_on_a_page_is_live(served: Served) -> None:
    """When the ticket moves to Done, the page shows DONE in green without a page edit."""
    url = f"{served.url}/wiki/spaces/PM/pages/{served.page_id}/any-slug"
    with served.state.transaction() as db:
        db.execute("UPDATE issues SET status = 'Done', status_category = 'done' WHERE key = ?",
                   ("OPS-1",))  # fmt: skip
    try:
        html = requests.get(url, timeout=5).text
        assert (
            '<span class="lozenge lozenge-green lozenge-subtle" data-colour="Green">DONE</span>'
            in html
        )
    finally:
        with served.state.transaction() as db:
            db.execute(
                "UPDATE issues SET status = 'In Progress', status_category = 'indeterminate'"
                " WHERE key = 'OPS-1'"
            )


def test_unknown_pages_are_404_and_a_wrong_space_redirects(served: Served) -> None:
    """A missing page is a 404 page; the right page in the wrong space redirects."""
    assert requests.get(served.url + "/wiki/spaces/PM/pages/1", timeout=5).status_code == 404
    moved = requests.get(
        f"{served.url}/wiki/spaces/XX/pages/{served.page_id}", timeout=5, allow_redirects=False
    )
    assert moved.status_code == 301
    assert moved.headers["location"].startswith(f"/wiki/spaces/PM/pages/{served.page_id}")


def test_the_issue_view_shows_fields_links_and_comments(served: Served) -> None:
    """/browse/KEY: status, assignee, due date, labels, description, remote links, comments."""
    auth = (ALICE.email, ALICE.token or "")
    api = f"{served.url}/rest/api/2/issue/OPS-1"
    requests.post(
        api + "/remotelink",
        json={
            "globalId": "followup:item:1",
            "object": {"url": "https://example.com/wiki/x", "title": "DB outage <page>"},
        },
        auth=auth,
        timeout=5,
    ).raise_for_status()
    requests.post(
        api + "/comment", json={"body": "Working on it <b>now</b>"}, auth=auth, timeout=5
    ).raise_for_status()
    response = requests.get(served.url + "/browse/OPS-1", timeout=5)
    assert response.status_code == 200
    html = response.text
    assert "<h1>Rotate keys &lt;now&gt;</h1>" in html
    assert "lozenge-blue" in html
    assert "IN PROGRESS" in html
    assert "Carol &lt;b&gt;Bold&lt;/b&gt;" in html
    assert "2024-06-01" in html
    assert '<span class="label">followup-98000001</span>' in html
    assert "Why: leaked.\n\nHow: vault." in html
    assert '<a href="https://example.com/wiki/x">DB outage &lt;page&gt;</a>' in html
    assert "Working on it &lt;b&gt;now&lt;/b&gt;" in html
    assert requests.get(served.url + "/browse/OPS-999", timeout=5).status_code == 404


def test_views_work_without_the_jira_tables() -> None:
    """A Confluence-only database still renders pages; jira macros show NOT FOUND."""
    from starlette.applications import Starlette

    from followup.sandbox import confluence, views

    state = SandboxState()
    confluence.init_schema(state.db)
    confluence.load(
        state,
        Dataset(
            users=(ALICE,),
            spaces=(SeedSpace("PM", "Postmortems"),),
            pages=(SeedPage("PM", "Alone", PAGE, ALICE.account_id, datetime.now(UTC)),),
        ),
    )
    app = Starlette(routes=views.routes(state))
    page_id = state.db.execute("SELECT id FROM content").fetchone()[0]

    async def fetch(path: str) -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            return await client.get(path)

    page = asyncio.run(fetch(f"/wiki/spaces/PM/pages/{page_id}"))
    assert page.status_code == 200
    assert "NOT FOUND" in page.text
    assert asyncio.run(fetch("/")).status_code == 200
