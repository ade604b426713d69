"""The addresses a person follows from an API answer, leading to the HTML views: how
answers write them (`webui_path`, `tiny_id`) and the redirects that lead there.

`_links.webui` is relative to `_links.base` (`<origin>/wiki`): on Cloud it is
`/spaces/KEY/pages/ID`, which the views serve; on Data Center it is
`/display/KEY/Title+Words` or `/pages/viewpage.action?pageId=ID`, and a space's is
`/display/KEY`; `_links.tinyui` is `/x/<id>` on both. These routes redirect each of
them to the page's view, and `/wiki` itself to the index. No authentication, as the
views.
"""

from __future__ import annotations

import base64
import binascii
import string
from urllib.parse import quote_plus

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.state import SandboxState

# What Confluence Data Center will not put in a /display/KEY/Title address
# (Confluence's UrlUtils.isSafeTitleForUrl).
_UNSAFE_IN_URL = frozenset('+?%&"/\\;#')


def safe_title_for_url(title: str) -> bool:
    """Whether Data Center addresses a page by its title: not empty, under 150
    characters, all ASCII, none of `+?%&"/\\;#`, not ending in punctuation, not "."."""
    return (
        0 < len(title) < 150
        and title != "."
        and title[-1] not in string.punctuation
        and all(ord(c) < 128 and c not in _UNSAFE_IN_URL for c in title)
    )


def url_encode(text: str) -> str:
    """`text` encoded as Java's URLEncoder does (space as `+`; only letters, digits and
    `.-*_` left as they are), which is how Confluence writes titles into addresses."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def webui_path(flavor: str, space_key: str, page_id: int, title: str) -> str:
    """A page's `_links.webui`, relative to `_links.base`.

    Cloud: `/spaces/KEY/pages/ID`. Data Center: `/display/KEY/Title+Words` when the
    title is safe in an address, else `/pages/viewpage.action?pageId=ID`, as
    Confluence Data Center builds them (and as its answers show: "/display/FS/Page+1"
    in Atlassian's Confluence REST API examples).
    """
    if flavor == "cloud":
        return f"/spaces/{space_key}/pages/{page_id}"
    if safe_title_for_url(title):
        return f"/display/{url_encode(space_key)}/{url_encode(title)}"
    return f"/pages/viewpage.action?pageId={page_id}"


def tiny_id(page_id: int) -> str:
    raw = page_id.to_bytes(8, "little").rstrip(b"\0")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _page_view(space_key: str, page_id: int) -> RedirectResponse:
    return RedirectResponse(f"/wiki/spaces/{space_key}/pages/{page_id}", status_code=302)


def _no_page(what: str) -> Response:
    return PlainTextResponse(f"There is no page {what}.", status_code=404)


def tiny_to_id(tiny: str) -> int | None:
    """The page id a `/x/<tiny>` address stands for (the inverse of `tiny_id`)."""
    try:
        raw = base64.urlsafe_b64decode(tiny + "=" * (-len(tiny) % 4))
    except (binascii.Error, ValueError):
        return None
    return int.from_bytes(raw, "little") if 0 < len(raw) <= 8 else None


def routes(state: SandboxState) -> list[BaseRoute]:
    """The redirects from the addresses in API answers to the HTML views."""
    db = state.db

    def space_and_id(page_id: int) -> tuple[str, int] | None:
        with state.lock:
            row = db.execute("SELECT space_key FROM content WHERE id = ?", (page_id,)).fetchone()
        return (str(row["space_key"]), page_id) if row else None

    def home(request: Request) -> Response:
        return RedirectResponse("/", status_code=302)

    def display_space(request: Request) -> Response:
        key = str(request.path_params["space_key"])
        return RedirectResponse(f"/wiki/spaces/{key}", status_code=302)

    def display_page(request: Request) -> Response:
        key = str(request.path_params["space_key"])
        # The server has decoded %xx; "+" stands for a space in these addresses (a title
        # with a "+" of its own is never addressed by title).
        title = str(request.path_params["title"]).replace("+", " ")
        with state.lock:
            row = db.execute(
                "SELECT id FROM content WHERE space_key = ? AND title = ? AND status = 'current'",
                (key, title),
            ).fetchone()
        return _page_view(key, int(row["id"])) if row else _no_page(f"{title!r} in {key}")

    def view_page(request: Request) -> Response:
        raw = request.query_params.get("pageId", "")
        found = space_and_id(int(raw)) if raw.isdigit() else None
        return _page_view(*found) if found else _no_page(f"with id {raw!r}")

    def tiny(request: Request) -> Response:
        code = str(request.path_params["tiny"])
        page_id = tiny_to_id(code)
        found = space_and_id(page_id) if page_id is not None else None
        return _page_view(*found) if found else _no_page(f"at /x/{code}")

    return [
        Route("/wiki", home, methods=["GET"]),
        Route("/wiki/", home, methods=["GET"]),
        Route("/wiki/display/{space_key}", display_space, methods=["GET"]),
        Route("/wiki/display/{space_key}/{title:path}", display_page, methods=["GET"]),
        Route("/wiki/pages/viewpage.action", view_page, methods=["GET"]),
        Route("/wiki/x/{tiny}", tiny, methods=["GET"]),
    ]
