"""Routing checked against Jira before anything is written.

`check_routing` reads Jira's create metadata for every route (the default one and
each `[[routing]]` rule): `GET /rest/api/2/issue/createmeta/{project}/issuetypes` and
`.../issuetypes/{id}` (Cloud and Data Center alike, paged; see
`JiraAdapter.create_issue_types`), once per project and issue type, and the issue link
types when follow-ups are linked to their incident. Every problem (a project that does
not exist or takes no creates from this account, an issue type, component, priority or
custom field it lacks, a required field no route fills, a link type the site lacks)
is named with its rule and field in one `ConfigError`: `followup sync` and `followup
doctor` stop there, exit 2, before any write.

What it returns is the routing ready for the planner: custom fields resolved to ids
and the JSON each takes, and each project's priorities (to tell a mapped word from an
unmapped one).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from followup.core.routing import CreateField, Route, Routing, check_route
from followup.errors import ConfigError
from followup.ports import JiraPort

__all__ = ["check_routing"]


def _line(route: Route, what: str, problem: str) -> str:
    return f"{route.name}: {what} {problem}"


def check_routing(jira: JiraPort, routing: Routing, *, also_sent: Collection[str] = ()) -> Routing:
    """`routing` with its custom fields resolved and its projects' priorities known;
    ConfigError naming every rule and field Jira would refuse. `also_sent`: fields
    every create sends by the settings (duedate with a default due date, assignee
    with a fallback assignee, priority with a default priority)."""
    problems: list[str] = []
    types: dict[str, list[tuple[str, str]] | None] = {}
    screens: dict[tuple[str, str], list[CreateField]] = {}
    resolved: dict[int | None, tuple[tuple[str, Any], ...]] = {}
    allowed: dict[str, frozenset[str]] = {}
    wanted_priorities = {name for _word, name in routing.priority_map}
    if routing.default_priority:
        wanted_priorities.add(routing.default_priority)
    for route in routing.routes:
        project = route.project
        if project not in types:
            types[project] = jira.create_issue_types(project)
        offered = types[project]
        if offered is None:
            problems.append(
                _line(route, "project", f"{project} does not exist, or this account cannot see it")
            )
            continue
        if not offered:
            problems.append(
                _line(
                    route,
                    "project",
                    f"{project} takes no creates from this account "
                    "(it needs the Create issues permission there)",
                )
            )
            continue
        type_id = next(
            (tid for tid, name in offered if name.casefold() == route.issue_type.casefold()), None
        )
        if type_id is None:
            names = ", ".join(name for _tid, name in offered)
            problems.append(
                _line(
                    route,
                    "issue_type",
                    f"{route.issue_type!r} is no issue type of {project} (it has: {names})",
                )
            )
            continue
        if (project, type_id) not in screens:
            screens[(project, type_id)] = jira.create_fields(project, type_id)
        fields = screens[(project, type_id)]
        sent = set(also_sent)
        if routing.due_days:
            sent.add("duedate")
        parent = routing.incident is not None and routing.incident.parent
        found, fields_json = check_route(
            route,
            fields,
            also_sent=sent,
            priorities=wanted_priorities,
            needed=("parent",) if parent else (),
        )
        problems.extend(_line(route, what, problem) for what, problem in found)
        resolved[route.rule] = fields_json
        priority = next((f for f in fields if f.id == "priority"), None)
        if priority is not None and priority.allowed is not None:
            allowed[project] = allowed.get(project, frozenset()) | frozenset(priority.allowed)
    known = {p.casefold() for names in allowed.values() for p in names}
    for name in routing.due_days:
        if allowed and name.casefold() not in known:
            every = ", ".join(sorted({p for names in allowed.values() for p in names}))
            problems.append(
                f"[priorities] due_days: {name!r} is no Jira priority (there are: {every})"
            )
    link_type = routing.incident.link_type if routing.incident is not None else None
    if link_type is not None:
        link_types = jira.issue_link_types()
        if link_type.casefold() not in {t.casefold() for t in link_types}:
            problems.append(
                f"[incident] link_type: {link_type!r} is no issue link type "
                f"of this Jira (it has: {', '.join(link_types) or 'none'})"
            )
    if problems:
        head = (
            problems[0]
            if len(problems) == 1
            else (f"{len(problems)} routing problems:\n" + "\n".join(f"  - {p}" for p in problems))
        )
        raise ConfigError(
            head,
            hint="fix the rule (project, issue_type, components, fields) in the config, or "
            "the project's create screen in Jira; `followup doctor` checks every rule; "
            "see docs/configuration.md#routing",
        )
    return replace(routing.with_fields(resolved), allowed_priorities=allowed)
