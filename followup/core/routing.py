"""Routing: which Jira project (and issue type, components, labels, custom fields) an
action item's ticket goes to, how a page's priority words become Jira priorities, and
which incident ticket the follow-ups are linked to. Pure values and functions.

    Routing.route(page, item) -> Route        first matching `[[routing]]` rule, else
                                              the default (`[jira] project`, issue_type)
    Routing.priority(text, project) -> ...    a Priority cell as a Jira priority name
    check_route(route, meta, ...) -> problems a route against Jira's create metadata

The rules come from the settings (`[[routing]]`); Jira's create metadata is read by
`followup.sync.routing_check`, which resolves field names to ids and fills in the
priorities each project takes before a run plans anything. The planner asks `route`
and `priority` and nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from followup.core.model import ActionItem, Page

__all__ = [
    "CreateField",
    "IncidentLink",
    "PriorityChoice",
    "Route",
    "Routing",
    "Rule",
    "check_route",
    "field_value",
    "normalise_priority",
    "project_of",
]

KEY = re.compile(r"\b([A-Z][A-Z0-9_]+-[1-9][0-9]*)\b")


def project_of(key: str) -> str:
    """The project key of an issue key: `PAY-12` -> `PAY`."""
    return key.rsplit("-", 1)[0].upper()


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def normalise_priority(text: str) -> str:
    """A priority word in the form two spellings of it compare equal in: case, spaces,
    dashes and dots dropped (`Sev-1`, `SEV 1` and `sev1` are one value)."""
    return re.sub(r"[\W_]+", "", text.casefold())


@dataclass(frozen=True, slots=True)
class Route:
    """Where a new ticket goes and what it carries besides followup's own fields.

    `fields` maps Jira field ids to the JSON a create sends (after resolution; before
    it, the names or ids as configured with their plain values). `rule` is the
    1-based position of the `[[routing]]` rule that chose it, None for the default.
    """

    project: str
    issue_type: str
    components: tuple[str, ...] = ()
    labels: tuple[str, ...] = ()
    fields: tuple[tuple[str, Any], ...] = ()
    rule: int | None = None

    @property
    def name(self) -> str:
        """How messages name the route: `[[routing]] rule 2 (project PAY)`."""
        if self.rule is None:
            return f"the default route ([jira] project {self.project})"
        return f"[[routing]] rule {self.rule} (project {self.project})"


@dataclass(frozen=True, slots=True)
class Rule:
    """One `[[routing]]` rule: matchers (all given ones must match) and the route.

    `space` is a page's space key, `label` one of its labels, `ancestor` the title (or
    id) of a page above it, `team` the item's own Team or Project cell; all compared
    without regard to case or spacing."""

    route: Route
    space: str | None = None
    label: str | None = None
    ancestor: str | None = None
    team: str | None = None

    def matches(self, page: Page, item: ActionItem | None) -> bool:
        if self.space is not None and page.space_key.casefold() != self.space.casefold():
            return False
        if self.label is not None and _fold(self.label) not in {_fold(x) for x in page.labels}:
            return False
        if self.ancestor is not None:
            wanted = _fold(self.ancestor)
            if not any(_fold(a) == wanted for a in (*page.ancestors, *page.ancestor_ids)):
                return False
        if self.team is not None:
            team = item.team if item is not None else None
            if team is None or _fold(team) != _fold(self.team):
                return False
        return True

    @property
    def uses_page_metadata(self) -> bool:
        """Whether matching needs the page's labels or ancestors (read with the page)."""
        return self.label is not None or self.ancestor is not None


@dataclass(frozen=True, slots=True)
class IncidentLink:
    """Follow-ups tied to the incident ticket a page names in its header table: linked
    with `link_type`, or (`parent`) created as its children.

    The follow-up is the link's outward issue (`<follow-up> <outward words> <incident>`
    in Jira's naming: POST issueLink's `outwardIssue` is where a link goes from).
    Only incident tickets of `projects` are used: a page names its incident as free
    text, and a link shows on both issues."""

    link_type: str | None
    projects: frozenset[str]
    parent: bool = False


@dataclass(frozen=True, slots=True)
class PriorityChoice:
    """A page's priority word as Jira will take it: `name` (None: none is sent), and
    whether the word could not be mapped (a finding)."""

    name: str | None
    unmapped: bool = False


@dataclass(frozen=True, slots=True)
class Routing:
    """Every routing decision's inputs: the rules in order, the default route, the
    priority table, due days by Jira priority and the incident link.

    `allowed_priorities` maps each project to the priority names its create screen
    takes, once read from Jira (`followup.sync.routing_check`); a project missing
    from it has not been checked, and a page's word that the table does not map is
    then sent as written, as it always was."""

    default: Route
    rules: tuple[Rule, ...] = ()
    priority_map: tuple[tuple[str, str], ...] = ()
    due_days: Mapping[str, int] = field(default_factory=dict)
    default_priority: str | None = None
    incident: IncidentLink | None = None
    allowed_priorities: Mapping[str, frozenset[str]] = field(default_factory=dict)

    @property
    def projects(self) -> frozenset[str]:
        """Every project a route names (the scope's projects include them all)."""
        return frozenset({self.default.project, *(r.route.project for r in self.rules)})

    @property
    def routes(self) -> tuple[Route, ...]:
        return (self.default, *(r.route for r in self.rules))

    def route(self, page: Page, item: ActionItem | None = None) -> Route:
        """The first rule matching the page (and the item's Team/Project cell), else
        the default route."""
        for rule in self.rules:
            if rule.matches(page, item):
                return rule.route
        return self.default

    def priority(self, text: str | None, project: str) -> PriorityChoice:
        """A Priority cell's word as a Jira priority of `project`.

        The table (`[priorities] map`) first, then a word that is already one of the
        project's priorities; a word neither knows is unmapped: the ticket gets the
        default priority (`[jira] default_priority`, else Jira's), never a failed
        create. Where the project's priorities were not read, an unmapped word is
        sent as written."""
        if text is None or not text.strip():
            return PriorityChoice(self.default_priority)
        word = normalise_priority(text)
        allowed = self.allowed_priorities.get(project)
        for page_word, jira_name in self.priority_map:
            if normalise_priority(page_word) == word:
                return PriorityChoice(jira_name)
        if allowed is None:
            return PriorityChoice(text.strip())
        for name in sorted(allowed):
            if normalise_priority(name) == word:
                return PriorityChoice(name)
        return PriorityChoice(self.default_priority, unmapped=True)

    def due_days_for(self, priority: str | None) -> int | None:
        """The default due date's distance (in days after the postmortem) for a ticket
        of this Jira priority, if `[priorities] due_days` names it."""
        if priority is None:
            return None
        for name, days in self.due_days.items():
            if name.casefold() == priority.casefold():
                return days
        return None

    def incident_key(self, text: str | None) -> str | None:
        """The incident ticket to link to, from what the page's header names: a key
        of one of the incident projects, else None."""
        if self.incident is None or not text:
            return None
        for key in KEY.findall(text.upper()):
            if project_of(key) in self.incident.projects:
                return str(key)
        return None

    def with_fields(self, resolved: Mapping[int | None, tuple[tuple[str, Any], ...]]) -> Routing:
        """These rules with each route's fields replaced by their resolved form (keyed
        by `Route.rule`)."""
        rules = tuple(
            replace(r, route=replace(r.route, fields=resolved.get(r.route.rule, r.route.fields)))
            for r in self.rules
        )
        default = replace(self.default, fields=resolved.get(None, self.default.fields))
        return replace(self, rules=rules, default=default)


# -- checks against Jira's create metadata -------------------------------------------------


@dataclass(frozen=True, slots=True)
class CreateField:
    """One field of a project's create screen for one issue type, from
    `GET issue/createmeta/{project}/issuetypes/{id}` (`FieldCreateMetadata` in Jira's
    REST document): id, name, whether required and whether Jira fills a default, the
    schema's type (and item type for arrays), and the allowed values' names (priority
    and component `name`, option `value`), when Jira lists them."""

    id: str
    name: str
    required: bool = False
    has_default: bool = False
    type: str = "string"
    items: str | None = None
    allowed: tuple[str, ...] | None = None


AlwaysSent = Collection[str]
"""Field ids a create always sends (summary, labels, ...), whatever the route."""


def _find_field(fields: Sequence[CreateField], wanted: str) -> list[CreateField]:
    by_id = [f for f in fields if f.id == wanted]
    if by_id:
        return by_id
    return [f for f in fields if _fold(f.name) == _fold(wanted)]


_SETTABLE = frozenset(
    {"string", "number", "date", "datetime", "option", "priority", "component", "version"}
)


def field_value(meta: CreateField, value: Any) -> tuple[Any, str | None]:
    """The JSON a create sends for `value` in `meta`'s field, or a problem. Option
    fields take `{"value": ...}` and must name an allowed option; arrays take a list."""
    values = value if isinstance(value, list) else [value]
    kind = meta.items if meta.type == "array" else meta.type
    if kind not in _SETTABLE:
        return None, (
            f"is a {kind} field, which a rule cannot set (text, numbers, dates, select "
            "lists, components and versions can be)"
        )
    if kind in ("date", "datetime") and not all(isinstance(v, str) for v in values):
        return None, 'takes a date as text, e.g. "2026-12-31"'
    if meta.allowed is not None and kind in ("option", "priority", "component", "version"):
        allowed = {_fold(a): a for a in meta.allowed}
        bad = [str(v) for v in values if _fold(str(v)) not in allowed]
        if bad:
            shown = ", ".join(meta.allowed) or "none"
            return None, f"has no value {bad[0]!r} (it takes: {shown})"
        values = [allowed[_fold(str(v))] for v in values]
    if kind == "string" and not all(isinstance(v, str) for v in values):
        return None, "takes text (quote the value)"
    if kind == "number":
        try:
            values = [float(v) for v in values]
        except (TypeError, ValueError):
            return None, "takes a number"
    if kind == "option":
        values = [{"value": v} for v in values]
    elif kind in ("priority", "component", "version"):
        values = [{"name": v} for v in values]
    if meta.type == "array":
        return values, None
    if len(values) != 1:
        return None, "takes one value, not a list"
    return values[0], None


ALWAYS_SENT = ("project", "issuetype", "summary", "description", "labels")


def check_route(
    route: Route,
    fields: Sequence[CreateField],
    *,
    also_sent: Collection[str] = (),
    priorities: Collection[str] = (),
    needed: Collection[str] = (),
) -> tuple[list[tuple[str, str]], tuple[tuple[str, Any], ...]]:
    """What is wrong with `route` on its project's create screen for its issue type
    (`fields`), as (field, problem) pairs, and the route's custom fields resolved to
    (field id, JSON value). `also_sent`: fields the settings make every create send
    (duedate with a default due date, ...); `priorities`: priority names a create
    may send (the table's, the default); `needed`: further fields a create sends that
    must be on the screen (`parent` for follow-ups made the incident's children)."""
    problems: list[tuple[str, str]] = []
    resolved: list[tuple[str, Any]] = []
    sent = {*ALWAYS_SENT, *also_sent}
    for name in ("summary", "labels", *needed):
        if not _find_field(fields, name):
            problems.append((name, "is not on the create screen"))
    if route.components:
        sent.add("components")
        found = _find_field(fields, "components")
        if not found:
            problems.append(("components", "is not on the create screen"))
        else:
            allowed = {_fold(a) for a in found[0].allowed or ()}
            for component in route.components:
                if _fold(component) not in allowed:
                    shown = ", ".join(found[0].allowed or ()) or "none"
                    problems.append(
                        ("components", f"has no component {component!r} (it has: {shown})")
                    )
    if priorities:
        found = _find_field(fields, "priority")
        if not found:
            problems.append(("priority", "is not on the create screen"))
        elif found[0].allowed is not None:
            allowed = {_fold(a) for a in found[0].allowed}
            for name in sorted(set(priorities)):
                if _fold(name) not in allowed:
                    shown = ", ".join(found[0].allowed) or "none"
                    problems.append(("priority", f"has no priority {name!r} (it has: {shown})"))
    for name, value in route.fields:
        found = _find_field(fields, name)
        if not found:
            problems.append((name, "is not a field of this create screen"))
            continue
        if len(found) > 1:
            ids = ", ".join(f.id for f in found)
            problems.append((name, f"names {len(found)} fields ({ids}): give the field id"))
            continue
        json_value, problem = field_value(found[0], value)
        if problem is not None:
            problems.append((f"{found[0].name} ({found[0].id})", problem))
            continue
        sent.add(found[0].id)
        resolved.append((found[0].id, json_value))
    for f in fields:
        if f.required and not f.has_default and f.id not in sent:
            problems.append((f"{f.name} ({f.id})", "is required and the route gives no value"))
    return problems, tuple(resolved)
