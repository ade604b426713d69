"""The site itself: `GET serverInfo` (Cloud, or Server 9.12 on Data Center; anonymous
callers may ask), and the application links list the `jira` client reads before adding
a remote link (always empty).
"""

from __future__ import annotations

from starlette.responses import Response

from followup.sandbox.jira.context import Ctx, Handler, json_response
from followup.sandbox.jira.formats import jira_time, utc_now


def _server_info(ctx: Ctx) -> Response:
    now = jira_time(utc_now())
    if ctx.cloud:
        version, numbers, deployment, build = "1001.0.0-SNAPSHOT", [1001, 0, 0], "Cloud", 100301
    else:
        version, numbers, deployment, build = "9.12.15", [9, 12, 15], "Server", 9120015
    return json_response(
        {
            "baseUrl": ctx.base_url,
            "displayUrl": ctx.base_url,
            "version": version,
            "versionNumbers": numbers,
            "deploymentType": deployment,
            "buildNumber": build,
            "buildDate": "2025-01-01T00:00:00.000+0000",
            "serverTime": now,
            "scmInfo": "followup-sandbox",
            "serverTitle": "Jira (followup sandbox)",
        }
    )


def application_links(ctx: Ctx) -> Response:
    return json_response({"list": []})


API: tuple[tuple[str, str, Handler], ...] = (("GET", "serverInfo", _server_info),)
