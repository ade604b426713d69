"""`ConfluenceAdapter`: `followup.ports.ConfluencePort` over HTTP, on
`atlassian-python-api`.

The library's REST client (`atlassian.rest_client.AtlassianRestAPI`, which every
product class of the library is built on) provides authentication and the session;
the v1 REST paths, the cursor pagination and the version handling are built here,
and every request goes through the shared `Transport` (rate limit, one retry policy,
accounting, error translation).

Library facts this relies on (atlassian-python-api 5.0):

- Nothing of the Confluence classes is used: `atlassian.Confluence` is a wrapper
  that picks a Cloud or a Server class and forwards attribute reads to it (through
  a private `_impl`); the Cloud class defaults to the v2 API root and the Server
  class rewrites relative paths. Every request here is an absolute URL
  (`absolute=True`), which the two classes send alike, so the adapter holds the
  base client itself and reaches it only through its public attributes
  (`request`, `session`, `timeout`, `close`).
- `AtlassianRestAPI.__init__` truncates `timeout` with `int()` (0.5 s would become
  0); the float is set again afterwards.
- `retry_with_header=True` is the default: a 429 with `Retry-After` would be slept
  on and retried once inside the library. It is turned off, like
  `backoff_and_retry`, so that `followup.adapters.retry` is the only place that retries.
- `raise_for_status` flattens every error into `requests.HTTPError` (and a 401
  without a JSON body into a bare "Unauthorized (401)"); requests use
  `advanced_mode=True`, which returns the raw response, and the status goes through
  our own translation.
- The library's v1 `update_page` reads the current version itself and writes
  version + 1, which silently overwrites an edit made since *our* read; the PUT
  here sends `page.version + 1` as read, so a concurrent edit gives 409.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

import requests
from atlassian.rest_client import AtlassianRestAPI

from followup.adapters.http import RateLimiter, RequestStats, Transport, credential_secrets
from followup.adapters.retry import RetryPolicy, Safety
from followup.core.model import Page
from followup.errors import BadRequestError, ConflictError, NotFoundError, ServerError
from followup.ports import AuthMethod, ConfluenceUser, PropertyValue

__all__ = ["PAGE_EXPAND", "ConfluenceAdapter"]

PAGE_EXPAND = "body.storage,version,space,history"
# What routing rules that match on labels or ancestors need read with each page.
PAGE_METADATA_EXPAND = "metadata.labels,ancestors"


class ConfluenceAdapter:
    """Confluence Cloud or Data Center through the v1 REST API.

    `url` is the Confluence base URL: `https://acme.atlassian.net/wiki` on Cloud,
    the context root (e.g. `https://confluence.acme.com`) on Data Center. `cloud`
    is told to the library's client (None: not said); the requests are the same.
    """

    def __init__(
        self,
        url: str,
        email: str | None,
        token: str,
        *,
        cloud: bool | None = None,
        verify_tls: bool = True,
        timeout: float = 30.0,
        limiter: RateLimiter | None = None,
        retry: RetryPolicy | None = None,
        stats: RequestStats | None = None,
        page_size: int = 50,
        auth: AuthMethod = "basic",
        page_metadata: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.page_size = page_size
        # Pages are read with their labels and ancestors only when routing needs them
        # (`Page.labels`, `Page.ancestors`), the same way by search and by id.
        self.expand = f"{PAGE_EXPAND},{PAGE_METADATA_EXPAND}" if page_metadata else PAGE_EXPAND
        kwargs: dict[str, Any] = {}
        if cloud is not None:
            kwargs["cloud"] = cloud
        # A personal access token (Data Center) goes as `Authorization: Bearer`, the
        # library's `token`; otherwise Basic with the email or username.
        credentials: dict[str, Any] = (
            {"token": token} if auth == "pat" else {"username": email, "password": token}
        )
        self.client = AtlassianRestAPI(
            url=self.url,
            **credentials,
            timeout=max(1, int(timeout)),
            verify_ssl=verify_tls,
            backoff_and_retry=False,
            retry_with_header=False,
            **kwargs,
        )
        self.client.timeout = float(timeout)  # type: ignore[assignment]
        self.stats = stats if stats is not None else RequestStats()
        self.transport = Transport(
            "confluence",
            limiter=limiter if limiter is not None else RateLimiter(10.0),
            retry=retry if retry is not None else RetryPolicy(),
            stats=self.stats,
            secrets=credential_secrets(None if auth == "pat" else email, token),
        )
        origin = urlsplit(self.url)
        self._origin = f"{origin.scheme}://{origin.netloc}"

    def close(self) -> None:
        self.client.close()

    def server_now(self) -> datetime | None:
        return self.transport.clock.now()

    # -- plumbing ------------------------------------------------------------------

    def _call(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        safety: Safety,
    ) -> Any:
        def attempt() -> requests.Response:
            response: requests.Response = self.client.request(
                method,
                path=url,
                params=dict(params) if params else None,
                data=dict(body) if body is not None else None,
                absolute=True,
                advanced_mode=True,
            )
            return response

        return self.transport.send_json(method, url, attempt, safety=safety)

    def _api(self, path: str) -> str:
        return f"{self.url}/rest/api{path}"

    def _next_url(self, next_link: str) -> str:
        """The URL of a `_links.next` cursor link.

        The link is relative to `_links.base`, which is the Confluence base URL the
        site believes in; it is joined to *our* base URL instead, so that a site
        whose advertised base differs (a proxy, a misconfigured Data Center) never
        receives our credentials on another host. An absolute link keeps its path
        and query only."""
        if next_link.startswith(("http://", "https://")):
            parts = urlsplit(next_link)
            return f"{self._origin}{parts.path}{'?' + parts.query if parts.query else ''}"
        return f"{self.url}/{next_link.lstrip('/')}"

    # -- pages ---------------------------------------------------------------------

    def find_pages(self, cql: str) -> Iterator[Page]:
        """Every page the CQL matches, each once, following `_links.next` to the end
        (the server may return fewer results than `limit`, and caps it)."""
        url: str | None = self._api("/content/search")
        params: dict[str, Any] | None = {
            "cql": cql,
            "limit": self.page_size,
            "expand": self.expand,
        }
        seen_ids: set[str] = set()
        seen_links: set[str] = set()
        while url is not None:
            data = self._call("GET", url, params=params, safety=Safety.IDEMPOTENT) or {}
            links = data.get("_links") or {}
            base = links.get("base")
            for raw in data.get("results") or []:
                if raw.get("type", "page") != "page" or str(raw.get("id")) in seen_ids:
                    continue
                seen_ids.add(str(raw["id"]))
                yield self._page(raw, base)
            next_link = links.get("next")
            if not next_link:
                return
            if next_link in seen_links:
                raise ServerError(
                    "the search returned the same next link twice",
                    service="confluence",
                    method="GET",
                    path="/rest/api/content/search",
                )
            seen_links.add(next_link)
            url, params = self._next_url(next_link), None

    def get_page(self, page_id: str) -> Page:
        raw = self._call(
            "GET",
            self._api(f"/content/{_seg(page_id)}"),
            params={"expand": self.expand},
            safety=Safety.IDEMPOTENT,
        )
        return self._page(raw or {}, None)

    def update_page(self, page: Page, body: str, *, message: str) -> Page:
        """PUT `body` as version `page.version + 1` (minor edit: watchers are not
        notified). 409 (ConflictError) when the page moved on since it was read.

        Repeating the PUT after a lost answer is safe: if the first one landed, the
        repeat gets 409 and the caller re-reads, as for any conflict."""
        payload = {
            "id": page.id,
            "type": "page",
            "title": page.title,
            "version": {"number": page.version + 1, "minorEdit": True, "message": message},
            "body": {"storage": {"value": body, "representation": "storage"}},
        }
        raw = self._call(
            "PUT",
            self._api(f"/content/{_seg(page.id)}"),
            body=payload,
            safety=Safety.IDEMPOTENT,
        )
        raw = raw or {}
        written = self._page(raw, None) if raw.get("id") else None
        return Page(
            id=page.id,
            title=written.title if written and written.title else page.title,
            space_key=written.space_key if written and written.space_key else page.space_key,
            version=written.version if written and written.version else page.version + 1,
            body=written.body if written and written.body else body,
            url=written.url if written and written.url else page.url,
            created=page.created,
            author=page.author,
            labels=page.labels,
            ancestors=page.ancestors,
            ancestor_ids=page.ancestor_ids,
        )

    def _page(self, raw: Mapping[str, Any], base: str | None) -> Page:
        links = raw.get("_links") or {}
        base = links.get("base") or base or self.url
        webui = links.get("webui") or ""
        history = raw.get("history") or {}
        created_by = history.get("createdBy") or {}
        return Page(
            id=str(raw.get("id", "")),
            title=str(raw.get("title") or ""),
            space_key=str((raw.get("space") or {}).get("key") or ""),
            version=int((raw.get("version") or {}).get("number") or 0),
            body=str(((raw.get("body") or {}).get("storage") or {}).get("value") or ""),
            url=f"{base}{webui}" if webui else "",
            created=_datetime(history.get("createdDate")),
            author=created_by.get("accountId") or created_by.get("username") or None,
            labels=tuple(
                str(label.get("name"))
                for label in ((raw.get("metadata") or {}).get("labels") or {}).get("results") or ()
                if isinstance(label, dict) and label.get("name")
            ),
            ancestors=tuple(str(a.get("title") or "") for a in raw.get("ancestors") or ()),
            ancestor_ids=tuple(str(a.get("id") or "") for a in raw.get("ancestors") or ()),
        )

    # -- content properties ----------------------------------------------------------

    def _property_url(self, page_id: str, key: str | None = None) -> str:
        tail = f"/{_seg(key)}" if key is not None else ""
        return self._api(f"/content/{_seg(page_id)}/property{tail}")

    def get_property(self, page_id: str, key: str) -> PropertyValue | None:
        try:
            raw = self._call("GET", self._property_url(page_id, key), safety=Safety.IDEMPOTENT)
        except NotFoundError:
            return None
        return _property(raw or {}, key)

    def create_property(self, page_id: str, key: str, value: dict[str, Any]) -> PropertyValue:
        """Create version 1 of a property. Confluence refuses an existing key with
        400 (some versions 409); either way, if the key exists, ConflictError.

        Repeated only on 429: a repeat after a lost answer would find our own
        property and report it as someone else's."""
        try:
            raw = self._call(
                "POST",
                self._property_url(page_id),
                body={"key": key, "value": value},
                safety=Safety.REJECTED_ONLY,
            )
        except BadRequestError as error:
            if self.get_property(page_id, key) is None:
                raise
            raise ConflictError(
                f"property {key!r} already exists",
                service="confluence",
                status=error.status,
                method=error.method,
                path=error.path,
            ) from None
        return _property(raw or {}, key)

    def update_property(
        self, page_id: str, key: str, value: dict[str, Any], *, version: int
    ) -> PropertyValue:
        raw = self._call(
            "PUT",
            self._property_url(page_id, key),
            body={"key": key, "value": value, "version": {"number": version, "minorEdit": True}},
            safety=Safety.IDEMPOTENT,
        )
        return _property(raw or {"value": value, "version": {"number": version}}, key)

    # -- spaces ----------------------------------------------------------------------

    def space_exists(self, key: str) -> bool:
        """Whether the account can see a space with this key (`GET /rest/api/space/{key}`:
        404 when there is none, or when the account may not view it)."""
        try:
            self._call("GET", self._api(f"/space/{_seg(key)}"), safety=Safety.IDEMPOTENT)
        except NotFoundError:
            return False
        return True

    # -- users -----------------------------------------------------------------------

    def user_timezone(self) -> str | None:
        """The time zone of the account followup signs in as (`GET user/current`):
        the zone in which Confluence reads the dates written in a CQL query."""
        raw = self._call("GET", self._api("/user/current"), safety=Safety.IDEMPOTENT)
        zone = raw.get("timeZone") if isinstance(raw, dict) else None
        return zone if isinstance(zone, str) and zone else None

    def get_user(
        self, *, userkey: str | None = None, username: str | None = None
    ) -> ConfluenceUser | None:
        if userkey:
            params = {"key": userkey}
        elif username:
            params = {"username": username}
        else:
            raise ValueError("get_user needs a userkey or a username")
        try:
            raw = self._call("GET", self._api("/user"), params=params, safety=Safety.IDEMPOTENT)
        except NotFoundError:
            return None
        if not isinstance(raw, dict):
            return None
        return ConfluenceUser(
            account_id=raw.get("accountId") or None,
            username=raw.get("username") or None,
            userkey=raw.get("userKey") or None,
            display_name=str(raw.get("displayName") or raw.get("publicName") or ""),
            email=raw.get("email") or None,
        )


def _seg(value: str) -> str:
    return quote(value, safe="")


def _property(raw: Mapping[str, Any], key: str) -> PropertyValue:
    value = raw.get("value")
    version = raw.get("version") or {}
    return PropertyValue(
        key=str(raw.get("key") or key),
        value=value if isinstance(value, dict) else {},
        version=int(version.get("number") or 1),
        # When the server wrote this version, by its own clock (`version.when`).
        when=_datetime(version.get("when")),
    )


def _datetime(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
