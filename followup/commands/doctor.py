"""`followup doctor`: check, in order, everything a sync needs, and say how to fix
what is wrong.

    config ─► sites answer ─► credentials ─► Cloud or Data Center ─► project and
    issue type ─► project permissions ─► create screen ─► labels ─► done transition
    ─► CQL and its pages ─► page permissions ─► jira macros (server and serverId)

A check whose prerequisite failed is skipped (a wrong token says nothing about the
project). Nothing is written, with one exception: where the site cannot answer "may
this account edit the page?" (Confluence Data Center has no permission-check API),
the doctor creates and deletes the content property `followup-doctor` on one page,
which is what a sync does with its lease and which changes neither the page body
nor its version. The output says when it did.

The doctor returns its `Checklist`; the CLI turns it into the exit code, as for every
command: 0 when every check passed (warnings allowed); 2 when followup could not
start working at all (the settings do not load or lack a site, a site does not
answer, or it refuses the credentials: `Checklist.setup_failed`); 1 when any other
check failed (a permission, the project, the workflow, the CQL...).

Everything the sites answer (page titles, names, messages) is printed as plain text,
stripped of control characters.

The doctor asks questions the ports do not (createmeta, mypermissions, transitions
of an arbitrary issue), so it calls the adapters' request plumbing directly: the
same transport, rate limit, retry policy, error translation and redaction as a sync.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any, Literal

import typer

from followup.adapters.retry import Safety
from followup.commands.sites import from_settings
from followup.core.queries import jql_string, postmortem_cql
from followup.errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ConflictError,
    ConnectivityError,
    FollowupError,
    ForbiddenError,
    NotFoundError,
)
from followup.reports.escaping import terminal_text
from followup.settings import MIN_TOKEN_LENGTH

if TYPE_CHECKING:
    from followup.adapters import Adapters
    from followup.settings import Settings

__all__ = [
    "Check",
    "Checklist",
    "config_failed",
    "jira_links",
    "macro_link_check",
    "run_doctor",
    "screen_problems",
    "transition_problems",
]

Status = Literal["ok", "warn", "fail", "skip"]
_MARK: Mapping[Status, str] = {"ok": "[ok]  ", "warn": "[warn]", "fail": "[FAIL]", "skip": "[skip]"}

PROBE_PROPERTY = "followup-doctor"
MAX_PAGES_COUNTED = 1000
MAX_PAGES_CHECKED = 25
MACRO_PAGES_READ = 25  # page bodies read, in one search, for the jira macros they hold
MAX_STATUSES_CHECKED = 6
DOCTOR_RETRY_BUDGET_SECONDS = 20.0
DOCTOR_MAX_ATTEMPTS = 2

# Fields a create always sends, and those it sends when the item or settings give one.
ALWAYS_SET = ("project", "issuetype", "summary", "description", "labels")
SOMETIMES_SET = {
    "duedate": "items with a due date",
    "assignee": "items with an owner",
    "priority": "jira.default_priority or a priority column",
}
# Project permissions a sync uses, and what for.
NEEDED_PERMISSIONS = {
    "BROWSE_PROJECTS": "see the tickets",
    "CREATE_ISSUES": "create tickets",
    "EDIT_ISSUES": "update tickets and add labels",
    "ASSIGN_ISSUES": "assign tickets to owners",
    "SCHEDULE_ISSUES": "set due dates",
    "TRANSITION_ISSUES": "close and reopen tickets",
    # Remote links (the ticket's link to its postmortem) need Link Issues on Cloud.
    "LINK_ISSUES": "link tickets to their postmortem page",
}
COMMENT_PERMISSION = "ADD_COMMENTS"


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the checklist; `fix` says what to do when it is not ok."""

    name: str
    status: Status
    detail: str
    fix: str | None = None

    def render(self) -> str:
        line = f"{_MARK[self.status]} {self.name}: {terminal_text(self.detail)}"
        if self.fix and self.status in ("fail", "warn"):
            line += f"\n         fix: {terminal_text(self.fix)}"
        return line


# -- pure judgements (tested table-driven) ------------------------------------------------


def screen_problems(
    fields: Mapping[str, Mapping[str, Any]], *, always_set: Collection[str] = ()
) -> tuple[list[str], list[str]]:
    """(fields followup sets that are missing from the create screen, fields the
    screen requires that followup does not always set), from createmeta's field
    metadata. `always_set`: those of `SOMETIMES_SET` the settings make followup send
    with every create (`duedate` with sync.default_due_days, `assignee` with
    sync.fallback_assignee, `priority` with jira.default_priority)."""
    needed = [*ALWAYS_SET, "duedate", "assignee"]
    needed += [f for f in SOMETIMES_SET if f in always_set and f not in needed]
    missing = [f for f in needed if f not in fields]
    sent = set(ALWAYS_SET) | set(always_set)
    required = sorted(
        f"{meta.get('name') or key} ({key})"
        for key, meta in fields.items()
        if meta.get("required") and not meta.get("hasDefaultValue") and key not in sent
    )
    return missing, required


def jira_links(body: str) -> list[tuple[str, str]]:
    """The (server, serverId) pairs the jira macros of a page body name, in page order;
    a body that cannot be read names none."""
    from followup.core.storage_format.xml import MACRO_TAGS, macro_name, macro_parameter, parse

    try:
        root = parse(body)
    except FollowupError:
        return []
    out: list[tuple[str, str]] = []
    for macro in root.iter(*MACRO_TAGS):
        if macro_name(macro) != "jira":
            continue
        sid = (macro_parameter(macro, "serverId") or "").strip()
        if sid:
            out.append(((macro_parameter(macro, "server") or "").strip(), sid))
    return out


_SET_LINK = "(FOLLOWUP_CONFLUENCE__JIRA_SERVER, FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID)"
_WHERE_LINK = (
    "Confluence writes them into every Jira issue macro: open a page with one, then "
    "••• → View storage format (on Cloud: ••• → Advanced details → View storage format) "
    "and copy its server and serverId parameters, or ask a Confluence admin "
    "(Administration → Application links)"
)


def macro_link_check(
    server: str | None,
    written: str | None,
    ours: Collection[str],
    seen: Mapping[tuple[str, str], str],
) -> Check:
    """The `jira macros` line: followup writes its macros naming `server` / `written`
    (the serverId; None: no server named), takes the macros of `ours` for this Jira,
    and the pages hold macros of `seen` ((server, serverId) -> a page title).

    A macro whose serverId is not ours is foreign to followup (its items get a
    foreign-ticket finding), so the check names any such id with the setting that
    would make it ours, and says whether followup's own macros match the pages'."""
    alien = [(link, title) for link, title in seen.items() if link[1] not in ours]
    if written is None:
        if alien:
            (name, sid), title = alien[0]
            return Check(
                "jira macros",
                "warn",
                "written without server and serverId (Confluence then uses its primary "
                "Jira link), and a Jira macro naming a server is taken for another Jira's; "
                f"the Jira macros on “{title}” name “{name}” ({sid})",
                f'set [confluence] jira_server = "{name}" and jira_server_id = "{sid}" '
                f"{_SET_LINK}, unless that is another Jira",
            )
        return Check(
            "jira macros",
            "warn",
            "written without server and serverId (Confluence then uses its primary Jira "
            "link), and no page read has a Jira macro to copy them from",
            f"set [confluence] jira_server and jira_server_id {_SET_LINK}; {_WHERE_LINK}",
        )
    named = f"“{server or ''}” ({written})"
    used = {sid for _, sid in seen}
    if alien:
        (name, sid), title = alien[0]
        if written in used:  # ours is on the pages too: this is a second link
            fix = (
                f'if “{name}” is this Jira too (an older link), add "{sid}" to [jira] '
                "macro_server_ids (FOLLOWUP_JIRA__MACRO_SERVER_IDS); if it is another Jira, "
                "nothing: its tickets are left alone"
            )
        else:
            fix = (
                f'set [confluence] jira_server = "{name}" and jira_server_id = "{sid}" '
                f"{_SET_LINK}, unless your pages link another Jira on purpose"
            )
        return Check(
            "jira macros",
            "warn",
            f"written with server {named}, but the Jira macros on “{title}” name “{name}” "
            f"({sid}), which followup takes for another Jira (foreign-ticket)",
            fix,
        )
    if seen and written not in used:
        (name, sid), title = next(iter(seen.items()))
        return Check(
            "jira macros",
            "warn",
            f"written with server {named}, but the Jira macros on “{title}” name “{name}” ({sid})",
            f'set [confluence] jira_server = "{name}" and jira_server_id = "{sid}" {_SET_LINK}',
        )
    more = "" if seen else "; no Jira macro on the pages read to compare with"
    also = sorted(set(ours) - {written})
    taken = f"; also taken for this Jira: {', '.join(also)}" if also else ""
    return Check("jira macros", "ok", f"written with server {named}{taken}{more}")


def _matches(transition: Mapping[str, Any], wanted: Sequence[str]) -> bool:
    names = {
        str(transition.get("name") or "").casefold(),
        str((transition.get("to") or {}).get("name") or "").casefold(),
    }
    return any(w.casefold() in names for w in wanted)


def transition_problems(
    offered: Mapping[str, Sequence[Mapping[str, Any]]], wanted: Sequence[str]
) -> dict[str, str]:
    """Statuses (from `offered`: status -> its transitions) from which none of the
    `wanted` transitions or target statuses is available, with what is offered."""
    out: dict[str, str] = {}
    for status, transitions in offered.items():
        if not any(_matches(t, wanted) for t in transitions):
            out[status] = (
                ", ".join(
                    f"{t.get('name')} (→ {(t.get('to') or {}).get('name')})" for t in transitions
                )
                or "no transitions"
            )
    return out


# -- the checks ---------------------------------------------------------------------------


def _api_detail(exc: ApiError) -> str:
    return exc.message.split("\n")[0]


class _Doctor:
    def __init__(self, settings: Settings, adapters: Adapters) -> None:
        self.settings = settings
        self.adapters = adapters
        self.jira = adapters.jira
        self.confluence = adapters.confluence
        self.checks: list[Check] = []
        self.failed: set[str] = set()
        self.server_info: dict[str, Any] = {}
        self.confluence_user: dict[str, Any] = {}
        self.project: dict[str, Any] = {}
        self.issue_type_id: str | None = None
        self.createmeta: dict[str, Mapping[str, Any]] = {}
        self.pages: list[Mapping[str, Any]] = []

    # plumbing: the adapters' own request path (see the module docstring)

    def _jira(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.jira._call("GET", path, params=params, safety=Safety.IDEMPOTENT)

    def _confluence(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        safety = Safety.IDEMPOTENT if method in ("GET", "DELETE") else Safety.REJECTED_ONLY
        url = self.confluence._api(path)
        return self.confluence._call(method, url, params=params, body=body, safety=safety)

    def add(self, check: Check) -> None:
        self.checks.append(check)
        if check.status in ("fail", "skip"):
            self.failed.add(check.name)

    def run(self, steps: Iterable[tuple[str, Sequence[str], Callable[[], Check]]]) -> None:
        for name, needs, step in steps:
            blocked = [n for n in needs if n in self.failed]
            if blocked:
                self.add(Check(name, "skip", f"needs “{blocked[0]}”"))
                continue
            try:
                self.add(step())
            except ConnectivityError as exc:
                self.add(
                    Check(
                        name,
                        "fail",
                        f"no answer: {_api_detail(exc)}",
                        "check the URL, DNS, proxy (HTTPS_PROXY) and firewall",
                    )
                )
            except ApiError as exc:
                self.add(Check(name, "fail", _api_detail(exc), exc.hint))

    # 2. the sites answer

    def jira_answers(self) -> Check:
        url = self.settings.jira.url
        try:
            self.server_info = self._jira("/rest/api/2/serverInfo") or {}
        except ConnectivityError as exc:
            return Check(
                "Jira answers",
                "fail",
                f"{url}: no answer ({_api_detail(exc)})",
                "check jira.url, DNS, the proxy (HTTPS_PROXY) and firewalls; for an "
                "internal certificate authority set REQUESTS_CA_BUNDLE",
            )
        except NotFoundError:
            return Check(
                "Jira answers",
                "fail",
                f"{url} answers, but not as Jira (no /rest/api/2/serverInfo)",
                "set jira.url to the base URL people open Jira at, e.g. "
                "https://acme.atlassian.net or https://jira.corp.example",
            )
        except (AuthenticationError, ForbiddenError):
            pass  # it answered; the credentials are the next check
        return Check("Jira answers", "ok", str(url))

    def confluence_answers(self) -> Check:
        url = self.settings.confluence.url
        try:
            self.confluence_user = self._confluence("GET", "/user/current") or {}
        except ConnectivityError as exc:
            return Check(
                "Confluence answers",
                "fail",
                f"{url}: no answer ({_api_detail(exc)})",
                "check confluence.url, DNS, the proxy (HTTPS_PROXY) and firewalls",
            )
        except NotFoundError:
            return Check(
                "Confluence answers",
                "fail",
                f"{url} answers, but not as Confluence (no /rest/api/user/current)",
                "on Atlassian Cloud confluence.url ends in /wiki "
                "(https://acme.atlassian.net/wiki); on Data Center it is the context root",
            )
        except (AuthenticationError, ForbiddenError):
            pass
        return Check("Confluence answers", "ok", str(url))

    # 3. credentials

    def jira_credentials(self) -> Check:
        jira = self.settings.jira
        who = _signing_in_as(jira.email, jira.uses_pat)
        try:
            me = self._jira("/rest/api/2/myself") or {}
        except AuthenticationError:
            hint = (
                "check the token has not expired or been revoked (Jira: Profile > Personal "
                "Access Tokens) and that it is a Jira token, not a Confluence one. Check "
                "FOLLOWUP_JIRA__TOKEN or the file jira.token_file names"
                if jira.uses_pat
                else "Cloud: jira.email is the account's email and the token an API token from "
                "https://id.atlassian.com/manage-profile/security/api-tokens (not the "
                "password); Data Center: jira.email holds the username, or set "
                'jira.auth = "pat" for a personal access token. Check '
                "FOLLOWUP_JIRA__TOKEN or the file jira.token_file names"
            )
            return Check("Jira credentials", "fail", f"{who} was refused (401)", hint)
        except ForbiddenError as exc:
            return Check(
                "Jira credentials",
                "fail",
                f"{who}: {_api_detail(exc)}",
                "Data Center asks for a CAPTCHA after failed logins: log in once in a "
                "browser as this account, then run the doctor again",
            )
        if me.get("active") is False:
            return Check(
                "Jira credentials",
                "fail",
                f"{who} is deactivated",
                "reactivate the account or use another",
            )
        name = me.get("displayName") or me.get("name") or who
        return Check("Jira credentials", "ok", f"signed in as {name} ({who})")

    def confluence_credentials(self) -> Check:
        confluence = self.settings.confluence
        who = _signing_in_as(confluence.email, confluence.uses_pat)
        try:
            me = self._confluence("GET", "/user/current") or {}
        except AuthenticationError:
            return Check(
                "Confluence credentials",
                "fail",
                f"{who} was refused (401)",
                "a personal access token belongs to one product: set [confluence] token "
                "(or token_file) to Confluence's own"
                if confluence.uses_pat
                else "Confluence uses the Jira account unless [confluence] email and token "
                "(or token_file) are set: check those, as for Jira",
            )
        if me.get("type") == "anonymous" or not (me.get("accountId") or me.get("username")):
            return Check(
                "Confluence credentials",
                "fail",
                f"{who} is treated as anonymous",
                "check [confluence] email and token; the site did not accept them",
            )
        self.confluence_user = me
        return Check(
            "Confluence credentials",
            "ok",
            f"signed in as {me.get('displayName') or who} ({who})",
        )

    # 4. deployment

    def deployment(self) -> Check:
        info = self.server_info
        jira_cloud = str(info.get("deploymentType", "")).casefold() == "cloud"
        jira = "Jira Cloud" if jira_cloud else f"Jira Data Center {info.get('version', '')}"
        confluence_cloud = bool(self.confluence_user.get("accountId"))
        confluence = "Confluence Cloud" if confluence_cloud else "Confluence Data Center"
        if jira_cloud != confluence_cloud:
            return Check(
                "Cloud or Data Center",
                "warn",
                f"{jira.strip()}, {confluence}: owners on pages are matched by account id "
                "on Cloud and by username on Data Center",
                "check that mentions on pages resolve to Jira users (`followup sync "
                "--dry-run` reports unknown-owner findings)",
            )
        return Check("Cloud or Data Center", "ok", f"{jira.strip()}, {confluence}")

    # 5. project and issue type

    def project_and_type(self) -> Check:
        key, wanted = self.settings.jira.project_key, self.settings.jira.issue_type
        try:
            self.project = self._jira(f"/rest/api/2/project/{key}") or {}
        except NotFoundError:
            visible = [p.get("key") for p in (self._jira("/rest/api/2/project") or [])][:15]
            return Check(
                "project and issue type",
                "fail",
                f"no project {key!r} that this account can see",
                f"set jira.project to an existing key (this account sees: "
                f"{', '.join(map(str, visible)) or 'none'}), or give the account "
                f"'Browse projects' in {key}",
            )
        types = {str(t.get("name")).casefold(): t for t in self.project.get("issueTypes") or []}
        found = types.get(wanted.casefold())
        if found is None:
            names = ", ".join(str(t.get("name")) for t in types.values())
            return Check(
                "project and issue type",
                "fail",
                f"project {key} has no issue type {wanted!r}",
                f"set jira.issue_type to one of: {names}",
            )
        self.issue_type_id = str(found.get("id"))
        return Check(
            "project and issue type", "ok", f"{key} ({self.project.get('name')}), {wanted}"
        )

    def permissions(self) -> Check:
        key = self.settings.jira.project_key
        wanted = dict(NEEDED_PERMISSIONS)
        s = self.settings.sync
        if "comment" in (s.orphans, s.duplicates) or self.settings.reminders.enabled:
            wanted[COMMENT_PERMISSION] = "comment on tickets"
        try:
            data = self._jira(
                "/rest/api/2/mypermissions",
                {"projectKey": key, "permissions": ",".join(wanted)},
            )
        except (NotFoundError, BadRequestError) as exc:
            return Check(
                "Jira permissions",
                "warn",
                f"could not ask the site ({_api_detail(exc)})",
                f"make sure the account may {', '.join(wanted.values())} in {key}",
            )
        have = (data or {}).get("permissions") or {}
        lacking = [p for p in wanted if not (have.get(p) or {}).get("havePermission")]
        if lacking:
            return Check(
                "Jira permissions",
                "fail",
                f"in {key} the account may not: "
                + "; ".join(f"{wanted[p]} ({p})" for p in lacking),
                f"grant these in the permission scheme of {key} (Project settings → "
                "Permissions), e.g. by adding the account to a role that has them",
            )
        return Check("Jira permissions", "ok", f"may {', '.join(wanted.values())} in {key}")

    # 6. create screen, 7. labels

    def _load_createmeta(self) -> dict[str, Mapping[str, Any]]:
        key = self.settings.jira.project_key
        path = f"/rest/api/2/issue/createmeta/{key}/issuetypes/{self.issue_type_id}"
        fields: dict[str, Mapping[str, Any]] = {}
        try:
            start = 0
            while True:
                page = self._jira(path, {"startAt": start, "maxResults": 100}) or {}
                chunk = page.get("fields") or page.get("values") or []
                for meta in chunk:
                    fields[str(meta.get("fieldId") or meta.get("key"))] = meta
                start += len(chunk)
                if not chunk or page.get("isLast") or start >= int(page.get("total") or 0):
                    return fields
        except NotFoundError:
            # Sites older than the paged createmeta (Jira 8.4 / Cloud before 2023).
            old = self._jira(
                "/rest/api/2/issue/createmeta",
                {
                    "projectKeys": key,
                    "issuetypeIds": self.issue_type_id,
                    "expand": "projects.issuetypes.fields",
                },
            )
            for project in (old or {}).get("projects") or []:
                for itype in project.get("issuetypes") or []:
                    fields.update(itype.get("fields") or {})
            return fields

    def create_screen(self) -> Check:
        self.createmeta = self._load_createmeta()
        key, itype = self.settings.jira.project_key, self.settings.jira.issue_type
        s, j = self.settings.sync, self.settings.jira
        always = [
            field
            for field, setting in (
                ("duedate", s.default_due_days),
                ("assignee", s.fallback_assignee),
                ("priority", j.default_priority),
            )
            if setting is not None
        ]
        missing, required = screen_problems(self.createmeta, always_set=always)
        problems: list[str] = []
        fixes: list[str] = []
        if missing:
            why = [f"{f} (for {SOMETIMES_SET[f]})" if f in SOMETIMES_SET else f for f in missing]
            problems.append(f"not on the create screen: {', '.join(why)}")
            fixes.append(
                f"add them to the create screen of {key} / {itype} (Project settings → "
                "Issue types → the type's fields)"
            )
        if required:
            problems.append(f"required but not set by followup: {', '.join(required)}")
            fixes.append(
                "make those fields optional, or give them a default value, for this type "
                "(a required due date or assignee: or set sync.default_due_days or "
                "sync.fallback_assignee)"
            )
        if problems:
            return Check("create screen", "fail", "; ".join(problems), "; ".join(fixes))
        return Check(
            "create screen",
            "ok",
            f"{key} / {itype}: the fields followup sets are there, no other is required",
        )

    def routing(self) -> Check:
        """Every route (the default and each `[[routing]]` rule) against Jira's create
        metadata, as each sync checks it before writing (`checked_routing`)."""
        from followup.commands.sync import checked_routing

        routing = self.settings.routing_config()
        j = self.settings.jira
        if routing is None:
            return Check(
                "routing", "ok", f"no [[routing]] rules: every ticket goes to {j.project_key}"
            )
        try:
            checked_routing(self.settings, self.jira)
        except ConfigError as exc:
            return Check("routing", "fail", exc.message, exc.hint)
        rules = len(routing.rules)
        projects = ", ".join(sorted(routing.projects))
        extra = []
        if routing.priority_map or routing.due_days:
            extra.append("the priority table")
        if routing.incident is not None and routing.incident.link_type is not None:
            extra.append(f"the link type {routing.incident.link_type!r}")
        also = f"; {' and '.join(extra)} too" if extra else ""
        return Check(
            "routing",
            "ok",
            f"{rules} rule(s) and the default route: {projects} take the issue types, "
            f"components and fields they name, and no required field is left empty{also}",
        )

    def labels(self) -> Check:
        meta = self.createmeta.get("labels")
        operations = set((meta or {}).get("operations") or ())
        labels = [self.settings.sync.label, f"{self.settings.sync.label}-<pageId>"]
        labels += list(self.settings.jira.labels)
        if meta is None or not operations & {"add", "set"}:
            return Check(
                "labels",
                "fail",
                "the labels field cannot be set on create",
                "put the Labels field on the create and edit screens: followup finds its "
                "tickets by their labels",
            )
        return Check("labels", "ok", f"can be set: {', '.join(labels)}")

    # 8. the done transition

    def done_transition(self) -> Check:
        key, itype = self.settings.jira.project_key, self.settings.jira.issue_type
        wanted = list(self.settings.jira.done_transitions)
        jql = (
            f"project = {jql_string(key)} AND issuetype = {jql_string(itype)} "
            "AND statusCategory != Done ORDER BY updated DESC"
        )
        by_status: dict[str, str] = {}
        for ticket in itertools.islice(self.jira.search_tickets(jql), 200):
            by_status.setdefault(ticket.status, ticket.key)
            if len(by_status) >= MAX_STATUSES_CHECKED:
                break
        if not by_status:
            return Check(
                "done transition",
                "warn",
                f"no open {itype} in {key} to read the workflow from",
                "create one ticket by hand and run the doctor again, or watch the first "
                "sync that ticks an item",
            )
        offered: dict[str, list[Mapping[str, Any]]] = {}
        for status, issue in by_status.items():
            data = self._jira(f"/rest/api/2/issue/{issue}/transitions") or {}
            offered[status] = list(data.get("transitions") or [])
        problems = transition_problems(offered, wanted)
        names = " / ".join(wanted)
        checked = ", ".join(f"{s} ({k})" for s, k in by_status.items())
        if problems:
            return Check(
                "done transition",
                "fail",
                f"{names} is not available from: "
                + "; ".join(f"{s} (offers {o})" for s, o in problems.items()),
                "set jira.done_transitions to transition or status names these statuses "
                "offer (tried in order), or add the transition to the workflow",
            )
        return Check("done transition", "ok", f"{names} reachable from {checked}")

    # 9. CQL, 10. page permissions

    def cql(self) -> Check:
        c = self.settings.confluence
        try:
            cql = postmortem_cql(c.cql, spaces=tuple(c.spaces))
        except ValueError as exc:
            return Check("CQL", "fail", str(exc), "fix confluence.cql / confluence.spaces")
        params: Mapping[str, Any] | None = {"cql": cql, "limit": 50, "expand": "space"}
        url: str | None = self.confluence._api("/content/search")
        pages: list[Mapping[str, Any]] = []
        try:
            while url is not None and len(pages) < MAX_PAGES_COUNTED:
                data = self.confluence._call("GET", url, params=params, safety=Safety.IDEMPOTENT)
                data = data or {}
                pages.extend(r for r in data.get("results") or [] if r.get("type") == "page")
                nxt = (data.get("_links") or {}).get("next")
                url, params = (self.confluence._next_url(nxt), None) if nxt else (None, None)
        except BadRequestError as exc:
            return Check(
                "CQL",
                "fail",
                f"Confluence refused {cql!r}: {_api_detail(exc)}",
                'fix confluence.cql (the default is: type = page AND label = "postmortem")',
            )
        self.pages = pages
        count = f"{len(pages)}{'+' if url is not None else ''}"
        spaces = sorted({str((p.get("space") or {}).get("key") or "?") for p in pages})
        if not pages:
            return Check(
                "CQL",
                "warn",
                f"valid, but no page matches {cql!r}",
                "label postmortem pages 'postmortem', or change confluence.cql / "
                "confluence.spaces; the account must be able to view the pages",
            )
        return Check("CQL", "ok", f"{count} page(s) in {', '.join(spaces)}: {cql}")

    def page_permissions(self) -> Check:
        account = self.confluence_user.get("accountId")
        sample = self.pages[:MAX_PAGES_CHECKED]
        if not sample:
            return Check("page permissions", "warn", "no pages to check", "see “CQL” above")
        if account:
            denied: list[str] = []
            try:
                for page in sample:
                    answer = self._confluence(
                        "POST",
                        f"/content/{page['id']}/permission/check",
                        body={
                            "subject": {"type": "user", "identifier": account},
                            "operation": "update",
                        },
                    )
                    if not (answer or {}).get("hasPermission"):
                        denied.append(f"“{page.get('title')}” ({page['id']})")
            except NotFoundError:
                return self._property_probe(sample[0])
            if denied:
                return self._pages_denied(denied, len(sample))
            more = f" (the first {len(sample)} checked)" if len(self.pages) > len(sample) else ""
            return Check(
                "page permissions",
                "ok",
                f"may edit the pages and set their content properties{more}",
            )
        return self._property_probe(sample[0])

    def jira_macros(self) -> Check:
        """This Jira's application link in Confluence: the `server` and `serverId`
        followup writes into its jira macros, and the ids whose hand-inserted macros it
        takes for this Jira, compared with what the postmortem pages' own Jira macros
        carry (one search, bodies included)."""
        c = self.settings.confluence
        cql = postmortem_cql(c.cql, spaces=tuple(c.spaces))
        data = self.confluence._call(
            "GET",
            self.confluence._api("/content/search"),
            params={"cql": cql, "limit": MACRO_PAGES_READ, "expand": "body.storage"},
            safety=Safety.IDEMPOTENT,
        )
        seen: dict[tuple[str, str], str] = {}
        for page in (data or {}).get("results") or []:
            body = ((page.get("body") or {}).get("storage") or {}).get("value") or ""
            for link in jira_links(body):
                seen.setdefault(link, str(page.get("title") or page.get("id")))
        server, written = self.settings.macro_link
        return macro_link_check(server, written, self.settings.macro_server_ids, seen)

    def webhooks(self) -> Check:
        """`followup serve`'s webhooks exist on the sites (followup.commands.webhooks)."""
        from followup.commands.webhooks import webhook_status

        adapters = self.adapters
        status, detail, fix = webhook_status(self.settings, adapters)
        return Check("webhooks", "ok" if status == "ok" else "warn", detail, fix)

    def _pages_denied(self, denied: Sequence[str], checked: int) -> Check:
        shown = ", ".join(denied[:5]) + (f" and {len(denied) - 5} more" if len(denied) > 5 else "")
        return Check(
            "page permissions",
            "fail",
            f"may not edit {len(denied)} of {checked} page(s): {shown}",
            "give the account 'Add/Edit pages' in those spaces (Space settings → "
            "Permissions) and remove page restrictions that leave it out",
        )

    def watermark(self) -> Check:
        """`sync.state_page`: the page exists and is visible, and what its watermark
        says (a read only: the next sync writes it)."""
        from followup.sync.watermark import WATERMARK_KEY, Unreadable, parse_mark

        page_id = self.settings.sync.state_page
        if page_id is None:
            return Check(
                "watermark",
                "ok",
                "sync.state_page is not set: every run reads every page and ticket "
                "(set it for incremental runs)",
            )
        try:
            page = self._confluence("GET", f"/content/{page_id}") or {}
        except NotFoundError:
            return Check(
                "watermark",
                "fail",
                f"sync.state_page {page_id}: no such page, or the account may not view it",
                "give the id of a page the account can edit (the digits in its address)",
            )
        title = page.get("title") or page_id
        found = self.confluence.get_property(page_id, WATERMARK_KEY)
        if found is None:
            return Check(
                "watermark",
                "ok",
                f"on “{title}” ({page_id}): none yet; the next sync is a full pass and writes it",
            )
        try:
            mark = parse_mark(found.value)
        except Unreadable as exc:
            return Check(
                "watermark",
                "warn",
                f"on “{title}” ({page_id}): not understood ({exc})",
                "the next sync is a full pass and writes a new one; nothing to do",
            )
        return Check(
            "watermark",
            "ok",
            f"on “{title}” ({page_id}): last successful run started "
            f"{mark.confluence.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC, last full pass "
            f"{mark.full.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
        )

    def _property_probe(self, page: Mapping[str, Any]) -> Check:
        """Create and delete one content property: the only way to learn whether the
        account may write on a site without a permission check (Data Center)."""
        pid = str(page["id"])
        path = f"/content/{pid}/property"
        value = {"probe": datetime.now(UTC).isoformat(timespec="seconds")}
        try:
            try:
                self._confluence("POST", path, body={"key": PROBE_PROPERTY, "value": value})
            except (ConflictError, BadRequestError):
                # Left over from an interrupted doctor: replace it.
                self._confluence("DELETE", f"{path}/{PROBE_PROPERTY}")
                self._confluence("POST", path, body={"key": PROBE_PROPERTY, "value": value})
            self._confluence("DELETE", f"{path}/{PROBE_PROPERTY}")
        except (ForbiddenError, AuthenticationError):
            return self._pages_denied([f"“{page.get('title')}” ({pid})"], 1)
        return Check(
            "page permissions",
            "ok",
            f"may set content properties: created and deleted the property "
            f"{PROBE_PROPERTY!r} on “{page.get('title')}” ({pid}); the page itself was "
            "not changed. This site has no permission check, so other pages were not "
            "checked",
        )


# Checks whose failure means followup cannot work with the sites at all (the CLI
# exits 2, as for a sync that stops for the same reason before writing anything).
SETUP_CHECKS = frozenset(
    {
        "config",
        "Jira answers",
        "Confluence answers",
        "Jira credentials",
        "Confluence credentials",
        # A routing rule Jira would refuse stops every sync before it writes.
        "routing",
    }
)


@dataclass(frozen=True, slots=True)
class Checklist:
    """Every check the doctor ran, in order."""

    checks: tuple[Check, ...]

    @property
    def failed(self) -> bool:
        """Some check failed (warnings and skipped checks do not count)."""
        return any(c.status == "fail" for c in self.checks)

    @property
    def setup_failed(self) -> bool:
        """A check every command needs first failed: the settings, a site answering, or
        the credentials."""
        return any(c.status == "fail" and c.name in SETUP_CHECKS for c in self.checks)

    def render(self) -> str:
        """One line per check (a second with the fix where it is not ok), then a
        summary line."""
        counts = {status: sum(1 for c in self.checks if c.status == status) for status in _MARK}
        summary = f"{counts['ok']} passed, {counts['fail']} failed"
        if counts["warn"]:
            summary += f", {counts['warn']} warning(s)"
        if counts["skip"]:
            summary += f", {counts['skip']} skipped"
        return "\n".join([*(c.render() for c in self.checks), summary])


def _print(checks: Sequence[Check], out: IO[str] | None) -> Checklist:
    checklist = Checklist(tuple(checks))
    if out is not None:
        print(checklist.render(), file=out)
    else:
        typer.echo(checklist.render())
    return checklist


def config_failed(error: ConfigError, *, out: IO[str] | None = None) -> Checklist:
    """The checklist when the settings did not load: its first check fails."""
    return _print([Check("config", "fail", error.message, error.hint)], out)


def run_doctor(settings: Settings, *, out: IO[str] | None = None) -> Checklist:
    """Run every check against the configured sites, print the checklist (on `out`,
    default standard output) and return it."""
    try:
        settings.require_sites()
    except ConfigError as exc:
        return config_failed(exc, out=out)
    config = Check("config", "ok", "settings load; both sites, accounts and tokens are set")
    try:
        adapters = from_settings(settings, run_budget_seconds=DOCTOR_RETRY_BUDGET_SECONDS)
    except FollowupError as exc:
        return _print([config, Check("Jira answers", "fail", exc.message, exc.hint)], out)
    # A doctor answers quickly: one retry at most, where a sync would try up to
    # `max_attempts` times (`followup.adapters.retry.RetryPolicy`).
    adapters.retry.max_attempts = DOCTOR_MAX_ATTEMPTS
    doctor = _Doctor(settings, adapters)
    doctor.add(config)
    try:
        doctor.run(
            [
                ("Jira answers", [], doctor.jira_answers),
                ("Confluence answers", [], doctor.confluence_answers),
                ("Jira credentials", ["Jira answers"], doctor.jira_credentials),
                ("Confluence credentials", ["Confluence answers"], doctor.confluence_credentials),
                (
                    "Cloud or Data Center",
                    ["Jira credentials", "Confluence credentials"],
                    doctor.deployment,
                ),
                ("project and issue type", ["Jira credentials"], doctor.project_and_type),
                ("Jira permissions", ["project and issue type"], doctor.permissions),
                ("create screen", ["project and issue type"], doctor.create_screen),
                ("routing", ["project and issue type"], doctor.routing),
                ("labels", ["create screen"], doctor.labels),
                ("done transition", ["project and issue type"], doctor.done_transition),
                ("CQL", ["Confluence credentials"], doctor.cql),
                ("page permissions", ["CQL"], doctor.page_permissions),
                ("jira macros", ["CQL"], doctor.jira_macros),
                ("watermark", ["Confluence credentials"], doctor.watermark),
                # Only for a `followup serve` deployment ([serve] public_url set).
                *(
                    [("webhooks", ["Jira credentials"], doctor.webhooks)]
                    if settings.serve.public_url
                    else []
                ),
            ]
        )
    finally:
        adapters.close()
    return _print(doctor.checks, out)


def _signing_in_as(email: str | None, pat: bool) -> str:
    """Who a credentials check names: the email or username, or the kind of token.

    A value that may be a token put into the email setting by mistake (no @, and as
    long as a token) is not printed."""
    if pat:
        return "the personal access token"
    if not email:
        return "the account"
    if "@" in email or len(email) < MIN_TOKEN_LENGTH:
        return email
    return "the account in the email setting"
