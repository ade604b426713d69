"""People: `GET /wiki/rest/api/user` (by `accountId` on Cloud, where `key` and
`username` are a 400 since Atlassian's privacy change; by `key`, `username` or
`accountId` on Data Center) and `GET .../user/current`, and a person as answers show
them (`version.by`, `history.createdBy`): Cloud's account shape, Data Center's
username and userkey.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox.confluence.context import Ctx, Problem, guard, site_of, v1_error
from followup.sandbox.state import SandboxState, User


def user_json(ctx: Ctx, ident: str) -> dict[str, Any]:
    user = ctx.state.user_by("account_id", ident) if ident else None
    picture = {
        "path": "/wiki/aa-avatar/default.png",
        "width": 48,
        "height": 48,
        "isDefault": True,
    }
    if user is None:
        unknown: dict[str, Any] = {
            "type": "unknown",
            "displayName": "Unknown user",
            "profilePicture": picture,
            "_links": {"base": ctx.site.base, "context": ctx.site.context},
        }
        if ctx.state.flavor == "cloud":
            unknown["accountId"] = ident
        else:
            unknown["userKey"] = ident
        return unknown
    return known_user_json(ctx, user)


def known_user_json(ctx: Ctx, user: User) -> dict[str, Any]:
    basis = ctx.state.user_json(user)
    links = {
        "base": ctx.site.base,
        "context": ctx.site.context,
    }
    if ctx.dc:
        # Data Center names a person by username and userkey, with no e-mail or
        # account fields, as recorded Confluence Data Center answers show them
        # (`version.by`): {type, username, userKey, profilePicture, displayName,
        # _links: {self: .../rest/api/user?key=...}, _expandable: {status}}.
        return {
            "type": "known",
            "username": basis["name"],
            "userKey": basis["key"],
            "profilePicture": {
                "path": "/images/icons/profilepics/default.svg",
                "width": 48,
                "height": 48,
                "isDefault": True,
            },
            "displayName": basis["displayName"],
            "_links": {"self": f"{ctx.site.base}/rest/api/user?{urlencode({'key': user.key})}"},
            "_expandable": {"status": ""},
        }
    data: dict[str, Any] = {
        "type": "known",
        "accountId": basis["accountId"],
        "accountType": basis.get("accountType", "atlassian"),
    }
    query = urlencode({"accountId": user.account_id})
    data.update(
        {
            "email": basis.get("emailAddress", ""),
            "publicName": basis["displayName"],
            "profilePicture": {
                "path": "/wiki/aa-avatar/default.png",
                "width": 48,
                "height": 48,
                "isDefault": True,
            },
            "displayName": basis["displayName"],
            "timeZone": basis.get("timeZone"),
            "isExternalCollaborator": False,
            "externalCollaborator": False,
            "_expandable": {"operations": "", "personalSpace": ""},
            "_links": {"self": f"{ctx.site.base}/rest/api/user?{query}", **links},
        }
    )
    return data


def routes(state: SandboxState) -> list[BaseRoute]:
    """The user endpoints over this state."""

    def get_user(request: Request, payload: bytes) -> Response:
        params = request.query_params
        cloud = state.flavor == "cloud"
        lookups = (
            (("accountId", "account_id"),)
            if cloud
            else (("key", "key"), ("username", "name"), ("accountId", "account_id"))
        )
        for param, column in lookups:
            value = params.get(param)
            if value:
                user = state.user_by(column, value)  # type: ignore[arg-type]
                if user is None:
                    raise Problem(404, f"No user found with {param}: {value}")
                return JSONResponse(known_user_json(Ctx(state, site_of(request)), user))
        if cloud and (params.get("key") or params.get("username")):
            raise Problem(
                400,
                "The username and key parameters are no longer supported on Confluence "
                "Cloud; use accountId",
            )
        raise Problem(400, "One of accountId, key or username is required")

    def current_user(request: Request, payload: bytes) -> Response:
        user = getattr(request.state, "user", None)
        if not isinstance(user, User):
            return JSONResponse(
                {
                    "type": "anonymous",
                    "displayName": "Anonymous",
                    "profilePicture": {
                        "path": "/wiki/aa-avatar/default.png",
                        "width": 48,
                        "height": 48,
                        "isDefault": True,
                    },
                    "_links": {"base": site_of(request).base, "context": site_of(request).context},
                }
            )
        return JSONResponse(known_user_json(Ctx(state, site_of(request)), user))

    return [
        Route("/wiki/rest/api/user", guard(get_user, v1_error), methods=["GET"]),
        Route("/wiki/rest/api/user/current", guard(current_user, v1_error), methods=["GET"]),
    ]
