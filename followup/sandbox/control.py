"""The control plane under `/_sandbox/`: not part of any Atlassian API.

Tests and benchmarks use it to reset and seed the sandbox, to set faults and to count
API calls. It also owns the sandbox's lifecycle helpers (the product modules,
creating their tables, loading a dataset, wiping everything), because reset and seed
are what it is for; `server.py` uses the same helpers at start-up.

    GET  /_sandbox/env           FOLLOWUP_* variables for the seeded admin
    GET  /_sandbox/stats         {"requests", "writes", "by_route", "faults"}
    POST /_sandbox/stats/reset
    POST /_sandbox/reset         {"seed": "demo" | "empty"}: wipe, reseed, clear faults+stats
    POST /_sandbox/seed          {"pages", "items_per_page", "seed", "replace"}
    GET  /_sandbox/faults        the active fault configuration
    PUT  /_sandbox/faults        replace it (see faults.py)
    POST /_sandbox/faults/release  let requests held by `hold_route` go
    POST /_sandbox/age           {"seconds"}: every stored time that much earlier
    GET  /_sandbox/health        {"ok": true, "flavor": ...}
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from followup.sandbox import confluence, jira, webhooks
from followup.sandbox.dataset import Dataset
from followup.sandbox.faults import FaultConfig, FaultConfigError, Faults
from followup.sandbox.seed import demo_dataset, synthetic_dataset
from followup.sandbox.state import JIRA_SERVER, JIRA_SERVER_ID, Flavor, SandboxState, User

DEFAULT_PROJECT = "OPS"


# -- lifecycle -------------------------------------------------------------------------------


#: The product API modules, each with `init_schema(db)` and `load(state, dataset)`
#: (and the webhooks both products deliver).
PRODUCTS: tuple[ModuleType, ...] = (jira, confluence, webhooks)


def init_schemas(state: SandboxState) -> None:
    """Create every product module's tables (idempotent)."""
    with state.lock:
        for module in PRODUCTS:
            module.init_schema(state.db)


def load_dataset(state: SandboxState, dataset: Dataset) -> None:
    """Add the dataset's users, then let each product module load its half."""
    for user in dataset.users:
        state.add_user(user)
    for module in PRODUCTS:
        module.load(state, dataset)


def wipe(state: SandboxState) -> None:
    """Delete every row of every table (schemas stay)."""
    with state.transaction() as db:
        tables = [
            r["name"]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in tables:
            db.execute(f'DELETE FROM "{table}"')
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
            db.execute("DELETE FROM sqlite_sequence")


def named_dataset(seed: str, flavor: Flavor = "cloud") -> Dataset:
    """The dataset a seed name stands for: "demo" (from seed.py, as the flavor's site
    holds it) or "empty"."""
    if seed == "empty":
        return Dataset()
    if seed != "demo":
        raise ValueError(f"unknown seed {seed!r}: use 'demo' or 'empty'")
    return demo_dataset(flavor)


def is_empty(state: SandboxState) -> bool:
    with state.lock:
        return bool(state.db.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 0)


def reset(state: SandboxState, seed: str = "demo") -> None:
    """Wipe the database and load the named dataset."""
    dataset = named_dataset(seed, state.flavor)
    init_schemas(state)
    wipe(state)
    load_dataset(state, dataset)


# Every stored time: what `age` moves back.
_TIMES = (
    ("content", ("created", "last_modified")),
    ("content_versions", ("created",)),
    ("content_properties", ("updated",)),
    ("issues", ("created", "updated", "resolutiondate")),
    ("comments", ("created",)),
    ("changelog", ("created",)),
)


def _moved_back(stored: str | None, seconds: float) -> str | None:
    """A stored ISO 8601 time `seconds` earlier, written as it was (`...Z` or
    `...+00:00`, milliseconds); anything else unchanged."""
    if not stored:
        return stored
    try:
        moment = datetime.fromisoformat(stored.replace("Z", "+00:00"))
    except ValueError:
        return stored
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moved = (moment - timedelta(seconds=seconds)).astimezone(UTC)
    if stored.endswith("Z"):
        return moved.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moved.microsecond // 1000:03d}Z"
    return moved.isoformat(timespec="milliseconds")


def age(state: SandboxState, seconds: float) -> None:
    """Make everything the site stores `seconds` older (pages, their versions and
    properties, issues, comments, history), as if that much time had passed since:
    a test's way to let a run's own writes fall out of the next run's window
    without waiting. The `Date` of answers is untouched (see the clock fault)."""
    with state.lock:
        db = state.db
        db.create_function("followup_moved_back", 2, _moved_back, deterministic=True)
        for table, columns in _TIMES:
            exists = db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
            ).fetchone()
            if not exists:
                continue
            sets = ", ".join(f"{c} = followup_moved_back({c}, ?)" for c in columns)
            db.execute(f"UPDATE {table} SET {sets}", tuple(seconds for _ in columns))
        db.commit()


def admin_user(state: SandboxState) -> User | None:
    """The seeded admin: the first user loaded who can log in and may write."""
    with state.lock:
        row = state.db.execute(
            "SELECT account_id FROM users WHERE token IS NOT NULL AND read_only = 0"
            " AND active = 1 ORDER BY rowid LIMIT 1"
        ).fetchone()
    return state.user_by("account_id", row["account_id"]) if row else None


def default_project(state: SandboxState) -> str:
    with state.lock:
        rows = [r["key"] for r in state.db.execute("SELECT key FROM projects ORDER BY rowid")]
    return DEFAULT_PROJECT if DEFAULT_PROJECT in rows or not rows else rows[0]


def env_for(state: SandboxState, base_url: str) -> dict[str, str]:
    """The FOLLOWUP_* variables that point followup at this sandbox as the seeded admin."""
    admin = admin_user(state)
    email = admin.email if admin else ""
    token = (admin.token or "") if admin else ""
    base = base_url.rstrip("/")
    return {
        "FOLLOWUP_JIRA__URL": base,
        "FOLLOWUP_JIRA__EMAIL": email,
        "FOLLOWUP_JIRA__TOKEN": token,
        "FOLLOWUP_JIRA__PROJECT": default_project(state),
        "FOLLOWUP_CONFLUENCE__URL": f"{base}/wiki",
        "FOLLOWUP_CONFLUENCE__EMAIL": email,
        "FOLLOWUP_CONFLUENCE__TOKEN": token,
        "FOLLOWUP_CONFLUENCE__JIRA_SERVER": JIRA_SERVER,
        "FOLLOWUP_CONFLUENCE__JIRA_SERVER_ID": JIRA_SERVER_ID,
    }


# -- stats -------------------------------------------------------------------------------------


class RequestStats:
    """Counts of API requests by route template, successful writes, and faults. Thread-safe."""

    FAULT_KINDS = ("429", "5xx", "dropped", "held")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_route: Counter[str] = Counter()
        self._writes = 0
        self._write_routes: list[str] = []
        self._faults: Counter[str] = Counter()

    def request(self, route: str) -> None:
        with self._lock:
            self._by_route[route] += 1

    def write(self, route: str = "") -> None:
        with self._lock:
            self._writes += 1
            self._write_routes.append(route)

    def write_routes(self) -> list[str]:
        """The route template of each successful write since the last reset, in order
        (`drop_write_numbers` counts the same writes)."""
        with self._lock:
            return list(self._write_routes)

    def fault(self, kind: str) -> None:
        with self._lock:
            self._faults[kind] += 1

    def reset(self) -> None:
        with self._lock:
            self._by_route.clear()
            self._faults.clear()
            self._writes = 0
            self._write_routes.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": sum(self._by_route.values()),
                "writes": self._writes,
                "by_route": dict(sorted(self._by_route.items())),
                "faults": {kind: self._faults[kind] for kind in self.FAULT_KINDS},
            }


# -- routes ----------------------------------------------------------------------------------


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return {}
    return json.loads(raw)


def routes(
    state: SandboxState, *, faults: Faults, stats: RequestStats, base_url: str
) -> list[BaseRoute]:
    """The `/_sandbox/*` routes over this state, fault set and counters."""

    def base(request: Request) -> str:
        return base_url.rstrip("/") or str(request.base_url).rstrip("/")

    async def env(request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(env_for, state, base(request)))

    async def get_stats(request: Request) -> Response:
        return JSONResponse(stats.snapshot())

    async def reset_stats(request: Request) -> Response:
        stats.reset()
        return JSONResponse(stats.snapshot())

    async def do_reset(request: Request) -> Response:
        try:
            body = await _json_body(request)
            seed = str(body.get("seed", "demo")) if isinstance(body, dict) else "demo"
            await run_in_threadpool(reset, state, seed)
        except ValueError as exc:
            return _error(400, str(exc))
        faults.clear()
        stats.reset()
        return JSONResponse({"seed": seed, **_counts(state)})

    async def do_seed(request: Request) -> Response:
        try:
            body = await _json_body(request)
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            pages = int(body.get("pages", 10))
            items = int(body.get("items_per_page", 5))
            rng_seed = int(body.get("seed", 0))
            replace = bool(body.get("replace", True))
        except (ValueError, TypeError) as exc:
            return _error(400, f"invalid seed request: {exc}")
        dataset = synthetic_dataset(
            pages=pages, items_per_page=items, seed=rng_seed, flavor=state.flavor
        )

        def load() -> None:
            init_schemas(state)
            if replace:
                wipe(state)
            load_dataset(state, dataset)

        await run_in_threadpool(load)
        return JSONResponse(_counts(state))

    async def get_faults(request: Request) -> Response:
        return JSONResponse(faults.config.to_json())

    async def put_faults(request: Request) -> Response:
        try:
            config = FaultConfig.from_json(await _json_body(request))
        except (FaultConfigError, ValueError) as exc:
            return _error(400, str(exc))
        faults.configure(config)
        return JSONResponse(config.to_json())

    async def release(request: Request) -> Response:
        faults.release()
        return JSONResponse(faults.config.to_json())

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "flavor": state.flavor})

    async def do_age(request: Request) -> Response:
        try:
            body = await _json_body(request)
            seconds = float(body.get("seconds", 0)) if isinstance(body, dict) else 0.0
        except (ValueError, TypeError) as exc:
            return _error(400, f"invalid age request: {exc}")
        await run_in_threadpool(age, state, seconds)
        return JSONResponse({"aged_seconds": seconds})

    return [
        Route("/_sandbox/env", env, methods=["GET"]),
        Route("/_sandbox/stats", get_stats, methods=["GET"]),
        Route("/_sandbox/stats/reset", reset_stats, methods=["POST"]),
        Route("/_sandbox/reset", do_reset, methods=["POST"]),
        Route("/_sandbox/seed", do_seed, methods=["POST"]),
        Route("/_sandbox/faults", get_faults, methods=["GET"]),
        Route("/_sandbox/faults", put_faults, methods=["PUT"]),
        Route("/_sandbox/faults/release", release, methods=["POST"]),
        Route("/_sandbox/health", health, methods=["GET"]),
        Route("/_sandbox/age", do_age, methods=["POST"]),
    ]


def _counts(state: SandboxState) -> dict[str, Any]:
    """Rows per table, so a caller can see what a reset or seed loaded."""
    with state.lock:
        db = state.db
        tables = [
            r["name"]
            for r in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {
            "rows": {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables}
        }
