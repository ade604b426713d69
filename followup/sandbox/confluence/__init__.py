"""The sandbox's Confluence API, resources added since `followup/sandbox/confluence_api.py`
(content, search, labels, properties, users, the v2 pages), split by resource:

- `spaces`: `GET /wiki/rest/api/space`, `GET /wiki/rest/api/space/{key}`;
- `children`: `GET /wiki/rest/api/content/{id}/child[/{type}]` (pages, comments,
  attachments);
- `search`: `GET /wiki/rest/api/search`, the generic CQL search;
- `web`: the addresses people follow (`_links.webui`, `tinyui`) that lead to the HTML
  views, on both flavors.

Each module has `routes(state)`, mounted by `confluence_api.routes`, and builds on the
helpers and shapes of `confluence_api`.
"""
