"""The Confluence half of the sandbox: the v1 (`/wiki/rest/api`) and v2
(`/wiki/api/v2`) endpoints followup uses (and people's own scripts commonly call),
over SQLite.

What is emulated, and how it bites like a real site (docs/sandbox.md has the table):
search caps `limit` on the server and pages through `_links.next`; every page write
re-serialises the body the way Confluence stores it, so a body read back is not
byte-equal to the body written; page writes need `version.number` = current + 1, else
409; content properties are compare-and-swap on their version.

The product module contract (`app.py`, `control.py`): `init_schema`, `load`, `routes`,
`READ_ONLY_POSTS`. One module per resource, each with its `routes(state)`:

    context      the site, request parameters, the endpoint wrapper, v1 and v2 errors
    tables       the tables, ids, inserting a page, loading a dataset
    rows         reading pages, versions and spaces; time as Confluence writes it
    storage      storage-format bodies re-serialised as Confluence stores them
    writes       the rules of a page write: title, version, body, parent, metadata
    content      content: list, read, create, update; a page's JSON
    history      a page's history and versions
    labels       a page's labels
    labels_v2    the label lookup, and Cloud's v2 pages by label and spaces
    properties   content properties
    search       the CQL searches (cql: CQL -> SQL)
    children     a page's child pages, comments and attachments
    spaces       spaces
    users        people, and a person's JSON
    permissions  the permission check (Cloud)
    pages_v2     the v2 pages (Cloud)
    web          web addresses in answers, and their redirects to the HTML views
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from followup.sandbox.confluence import (
    children,
    content,
    history,
    labels,
    labels_v2,
    pages_v2,
    permissions,
    properties,
    search,
    spaces,
    users,
    web,
)
from followup.sandbox.confluence.permissions import READ_ONLY_POSTS
from followup.sandbox.confluence.tables import init_schema, load
from followup.sandbox.state import SandboxState

__all__ = ["READ_ONLY_POSTS", "init_schema", "load", "routes"]

# The content search first: `content/search` is not the page `content/{id}`.
_RESOURCES = (
    search,
    content,
    history,
    labels,
    labels_v2,
    properties,
    users,
    permissions,
    pages_v2,
    spaces,
    children,
    web,
)


def routes(state: SandboxState) -> list[BaseRoute]:
    """The Confluence endpoints, to mount on the sandbox app."""
    return [route for module in _RESOURCES for route in module.routes(state)]
