"""Resolving the owners written on pages to Jira users, cached within a run.

- A Cloud mention's accountId is used directly, once Jira confirms the user is
  assignable in the project.
- A Data Center mention (userkey or username) goes through Confluence's user API to
  a username, then is checked assignable in Jira.
- Plain text ("Priya Natarajan", "@priya") goes through the `[owners]` table of the
  config, then Jira's user search, which must find exactly one active user.

Anything else is unresolved (`user_id=None`); the planner reports it as
`unknown-owner` and applies the fallback assignee.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping

from followup.core.model import Owner
from followup.core.plan import OwnerResolution
from followup.ports import ConfluencePort, JiraPort, JiraUser


def _norm(name: str) -> str:
    return " ".join(name.strip().lstrip("@").split()).casefold()


class OwnerResolver:
    def __init__(
        self,
        jira: JiraPort,
        confluence: ConfluencePort,
        *,
        project: str,
        names: Mapping[str, str] | None = None,
    ) -> None:
        self._jira = jira
        self._confluence = confluence
        self._project = project
        self._names = {_norm(k): v for k, v in (names or {}).items()}
        self._cache: dict[Owner, OwnerResolution] = {}
        self._assignable: dict[str, JiraUser | None] = {}
        self._lock = threading.Lock()
        self._looking_up: dict[object, threading.Lock] = {}

    def _one_at_a_time(self, key: object) -> threading.Lock:
        """A lock per owner (or user id): pages are planned in parallel, and two pages
        naming the same person must make one look-up between them, not one each."""
        with self._lock:
            return self._looking_up.setdefault(key, threading.Lock())

    def resolve(self, owners: Iterable[Owner]) -> dict[Owner, OwnerResolution]:
        out: dict[Owner, OwnerResolution] = {}
        for owner in owners:
            with self._one_at_a_time(owner):
                with self._lock:
                    cached = self._cache.get(owner)
                if cached is None:
                    cached = self._resolve(owner)
                    with self._lock:
                        self._cache[owner] = cached
            out[owner] = cached
        return out

    def _check(self, user_id: str | None) -> OwnerResolution:
        """`user_id` if it can be assigned in the project, with its display name (the
        look-up that says so names the user: reports show names at no extra cost)."""
        if not user_id:
            return OwnerResolution(None)
        with self._one_at_a_time(("assignable", user_id)):
            with self._lock:
                known = user_id in self._assignable
                user = self._assignable.get(user_id)
            if not known:
                user = self._jira.assignable_user(user_id, self._project)
                with self._lock:
                    self._assignable[user_id] = user
        if user is None:
            return OwnerResolution(None)
        return OwnerResolution(user_id, user.display_name or None)

    def _resolve(self, owner: Owner) -> OwnerResolution:
        deployment = self._jira.deployment
        if owner.kind == "account_id":
            return self._check(owner.value if deployment == "cloud" else None)
        if owner.kind == "username":
            return self._check(owner.value if deployment == "datacenter" else None)
        if owner.kind == "userkey":
            user = self._confluence.get_user(userkey=owner.value)
            if user is None:
                return OwnerResolution(None)
            if deployment == "cloud":
                return self._check(user.account_id)
            return self._check(user.username)
        mapped = self._names.get(_norm(owner.value))
        if mapped:
            return self._check(mapped)
        query = owner.value.strip().lstrip("@")
        if not query:
            return OwnerResolution(None)
        found = [u for u in self._jira.find_users(query) if u.active]
        exact = [u for u in found if _norm(u.display_name) == _norm(query)]
        if len(found) == 1:
            return self._check(found[0].id)
        if len(exact) == 1:
            return self._check(exact[0].id)
        return OwnerResolution(None)
