"""The receiver's HTTP application (Starlette, served by uvicorn).

    POST /webhooks/jira        Jira admin webhook deliveries
    POST /webhooks/confluence  Confluence (Data Center) webhook deliveries
    GET  /healthz              200 when the settings loaded and both sites answer, else 503
    GET  /metrics              Prometheus text format (followup.serve.metrics)

A delivery is taken in this order, and the first answer that is not 2xx ends it with
nothing of it reaching the engine but a counter:

1. a body over `max_body_bytes` (by its Content-Length, or counted while reading):
   413;
2. no `X-Hub-Signature`, or one that is not `sha256=` + the HMAC-SHA256 of the raw
   body under the secret (compared in constant time): 401;
3. a body that is not a JSON object: 400;
4. an event about nothing followup manages: 200, and no run;
5. the page queued or folded into a run already waiting: 202, at once (the run
   happens in a worker);
6. the queue full: 503 with `Retry-After`, so that the site delivers it again.

A delivery Jira retries carries the same `X-Atlassian-Webhook-Identifier`; one
already taken is answered 200 and counted as ignored (`duplicate`). A duplicate
that slips through costs at most one more page run that writes nothing.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Literal

import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from followup.serve import signing
from followup.serve.events import Ignored, Target, confluence_targets, jira_targets
from followup.serve.metrics import ServeMetrics
from followup.serve.queue import PageQueue

__all__ = ["DELIVERY_ID_HEADER", "create_app"]

log = structlog.get_logger("followup.serve")

Source = Literal["jira", "confluence"]
DELIVERY_ID_HEADER = "X-Atlassian-Webhook-Identifier"
_SEEN_DELIVERIES = 10_000
_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _TooLarge(Exception):
    pass


class _Deliveries:
    """The identifiers of the last deliveries taken, to answer a repeat at once."""

    def __init__(self, size: int = _SEEN_DELIVERIES) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def seen(self, delivery: str | None) -> bool:
        if not delivery:
            return False
        with self._lock:
            return delivery in self._seen

    def add(self, delivery: str | None) -> None:
        if not delivery:
            return
        with self._lock:
            self._seen[delivery] = None
            while len(self._seen) > self._size:
                self._seen.popitem(last=False)


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(
    *,
    secret: str,
    queue: PageQueue,
    metrics: ServeMetrics,
    label: str,
    max_body_bytes: int,
    health: Callable[[], tuple[bool, str]],
    retry_after_seconds: int = 10,
) -> Starlette:
    """The application; `health()` says whether both sites answer (it may block:
    it is called in a thread)."""
    deliveries = _Deliveries()

    def reject(source: Source, status: int, reason: str, message: str) -> Response:
        metrics.rejected.labels(source, reason).inc()
        log.info("webhook-rejected", source=source, status=status, reason=reason)
        headers = {"Retry-After": str(retry_after_seconds)} if status == 503 else None
        return JSONResponse({"error": message}, status_code=status, headers=headers)

    async def receive(request: Request, source: Source) -> Response:
        metrics.received.labels(source).inc()
        try:
            body = await _read_body(request, max_body_bytes)
        except _TooLarge:
            return reject(source, 413, "too_large", f"body over {max_body_bytes} bytes")
        if not signing.verify(secret, body, request.headers.get(signing.HEADER)):
            return reject(
                source, 401, "signature", f"missing or invalid {signing.HEADER} signature"
            )
        metrics.verified.labels(source).inc()
        try:
            payload: Any = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return reject(source, 400, "malformed", "the body is not JSON")
        if not isinstance(payload, dict):
            return reject(source, 400, "malformed", "the body is not a JSON object")
        delivery = request.headers.get(DELIVERY_ID_HEADER)
        if deliveries.seen(delivery):
            metrics.ignored.labels(source, "duplicate").inc()
            return JSONResponse({"status": "ignored", "reason": "duplicate"}, status_code=200)
        found: list[Target] | Ignored = (
            jira_targets(payload, label) if source == "jira" else confluence_targets(payload)
        )
        if isinstance(found, Ignored):
            metrics.ignored.labels(source, found.reason).inc()
            log.debug("webhook-ignored", source=source, reason=found.reason, detail=found.detail)
            deliveries.add(delivery)
            return JSONResponse(
                {"status": "ignored", "reason": found.reason, "detail": found.detail},
                status_code=200,
            )
        answers = [queue.submit(target, source=source) for target in found]
        if "full" in answers:
            return reject(source, 503, "queue_full", "too many pages waiting; deliver again later")
        deliveries.add(delivery)
        # One line per run asked for; events folded into a waiting run only at debug.
        accepted = log.info if "queued" in answers else log.debug
        accepted("webhook-accepted", source=source, targets=[t.key for t in found], queued=answers)
        return JSONResponse(
            {"status": "accepted", "targets": [t.key for t in found]}, status_code=202
        )

    async def jira(request: Request) -> Response:
        return await receive(request, "jira")

    async def confluence(request: Request) -> Response:
        return await receive(request, "confluence")

    async def healthz(request: Request) -> Response:
        ok, detail = await run_in_threadpool(health)
        return JSONResponse(
            {"status": "ok" if ok else "unavailable", "detail": detail, "queue": queue.depth},
            status_code=200 if ok else 503,
        )

    async def prometheus(request: Request) -> Response:
        metrics.depth.set(queue.depth)
        return PlainTextResponse(metrics.render(), media_type=_CONTENT_TYPE)

    return Starlette(
        routes=[
            Route("/webhooks/jira", jira, methods=["POST"]),
            Route("/webhooks/confluence", confluence, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", prometheus, methods=["GET"]),
        ]
    )
