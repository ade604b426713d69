"""The Jira half of the sandbox: the REST API v2/v3 subset followup uses (and people's
own scripts commonly call), over SQLite.

Shapes, status codes and error bodies follow Jira Cloud (checked against Atlassian's
OpenAPI document); on the `datacenter` flavor it answers as Jira Data Center does where
the two differ (users by name, `/rest/api/2/search` with `startAt`/`total`, no v3).
v2 and v3 share every handler; they differ only in rich text, which is a plain string
on v2 and an Atlassian Document Format (ADF) document on v3.

The product module contract (`app.py`, `control.py`): `init_schema`, `load`, `routes`,
`READ_ONLY_POSTS`. One module per resource, each with its `API` table of
`(method, path, handler)`:

    context      the request context, the endpoint wrapper, Jira's errors
    formats      timestamps and rich text (v2 strings, v3 ADF)
    lookups      issues and projects by id or key (404 when missing)
    tables       the tables, id and key allocation, loading a dataset
    workflow     To Do -> In Progress -> Done, transitions and resolutions
    catalog      issue types, statuses, categories, priorities, resolutions
    fields       the system fields, and which a request returns or may set
    validation   field values checked as Jira checks them
    issue_json   an issue as JSON
    create       POST issue                    bulk         POST issue/bulk
    issues       GET/PUT/DELETE issue, assignee
    edit         fields and update operations on an issue
    transitions  issue transitions             comments     issue comments
    properties   issue entity properties       remote_links issue remote links
    issue_links  link types and issue links    watchers     watchers
    changelog    issue histories               search       JQL searches (jql: JQL -> SQL)
    projects     projects                      createmeta   create metadata
    users        myself, users, user searches  permissions  mypermissions
    site         serverInfo, application links
"""

from __future__ import annotations

import re

from starlette.routing import BaseRoute, Route

from followup.sandbox.jira import (
    bulk,
    catalog,
    changelog,
    comments,
    create,
    createmeta,
    fields,
    issue_links,
    issues,
    permissions,
    project_fields,
    projects,
    properties,
    remote_links,
    search,
    site,
    transitions,
    users,
    watchers,
)
from followup.sandbox.jira.context import endpoint
from followup.sandbox.jira.tables import init_schema, load
from followup.sandbox.state import SandboxState

__all__ = ["API_VERSIONS", "READ_ONLY_POSTS", "init_schema", "load", "routes"]

API_VERSIONS = ("2", "3", "latest")

#: POSTs that only read: not writes for stats, faults and read-only users.
READ_ONLY_POSTS = re.compile(r"^/rest/api/(2|3|latest)/(search|search/jql)$")

_RESOURCES = (
    site,
    users,
    fields,
    projects,
    project_fields,
    createmeta,
    permissions,
    create,
    bulk,
    issues,
    transitions,
    remote_links,
    properties,
    comments,
    search,
    catalog,
    changelog,
    issue_links,
    watchers,
)


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Jira REST routes, under /rest/api/2, /rest/api/3 and /rest/api/latest."""
    out: list[BaseRoute] = []
    for version in API_VERSIONS:
        for module in _RESOURCES:
            for method, path, handler in module.API:
                out.append(
                    Route(
                        f"/rest/api/{version}/{path}",
                        endpoint(state, version, handler),
                        methods=[method],
                        name=f"jira:{version}:{method}:{path}",
                    )
                )
    out.append(
        Route(
            "/rest/applinks/latest/listApplicationlinks",
            endpoint(state, "2", site.application_links),
            methods=["GET"],
        )
    )
    return out
