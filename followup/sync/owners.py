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
        # By owner and the project the ticket goes to (routing: each team's project).
        self._cache: dict[tuple[Owner, str], OwnerResolution] = {}
        self._assignable: dict[tuple[str, str], JiraUser | None] = {}
        self._lock = threading.Lock()
        self._looking_up: dict[object, threading.Lock] = {}

    def _one_at_a_time(self, key: object) -> threading.Lock:
        """A lock per owner (or user id): pages are planned in parallel, and two pages
        naming the same person must make one look-up between them, not one each."""
        with self._lock:
            return self._looking_up.setdefault(key, threading.Lock())

    def resolve(
        self, owners: Iterable[Owner], project: str | None = None
    ) -> dict[Owner, OwnerResolution]:
        """Each owner as a user assignable in `project` (default: the resolver's)."""
        where = project or self._project
        out: dict[Owner, OwnerResolution] = {}
        for owner in owners:
            with self._one_at_a_time((owner, where)):
                with self._lock:
                    cached = self._cache.get((owner, where))
                if cached is None:
                    cached = self._resolve(owner, where)
                    with self._lock:
                        self._cache[(owner, where)] = cached
            out[owner] = cached
        return out

    def _check(self, user_id: str | None, project: str) -> OwnerResolution:
        """`user_id` if it can be assigned in the project, with its display name (the
        look-up that says so names the user: reports show names at no extra cost)."""
        if not user_id:
            return OwnerResolution(None)
        with self._one_at_a_time(("assignable", user_id, project)):
            with self._lock:
                known = (user_id, project) in self._assignable
                user = self._assignable.get((user_id, project))
            if not known:
                user = self._jira.assignable_user(user_id, project)
                with self._lock:
                    self._assignable[(user_id, project)] = user
        if user is None:
            return OwnerResolution(None)
        return OwnerResolution(user_id, user.display_name or None)

    def _resolve(self, owner: Owner, project: str) -> OwnerResolution:
        deployment = self._jira.deployment
        if owner.kind == "account_id":
            return self._check(owner.value if deployment == "cloud" else None, project)
        if owner.kind == "username":
            return self._check(owner.value if deployment == "datacenter" else None, project)
        if owner.kind == "userkey":
            user = self._confluence.get_user(userkey=owner.value)
            if user is None:
                return OwnerResolution(None)
            if deployment == "cloud":
                return self._check(user.account_id, project)
            return self._check(user.username, project)
        mapped = self._names.get(_norm(owner.value))
        if mapped:
            return self._check(mapped, project)
        query = owner.value.strip().lstrip("@")
        if not query:
            return OwnerResolution(None)
        found = [u for u in self._jira.find_users(query) if u.active]
        exact = [u for u in found if _norm(u.display_name) == _norm(query)]
        if len(found) == 1:
            return self._check(found[0].id, project)
        if len(exact) == 1:
            return self._check(exact[0].id, project)
        return OwnerResolution(None)
