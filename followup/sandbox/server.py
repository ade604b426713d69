"""Running the sandbox: in the foreground (`serve`), in a thread (`start_in_thread`), or
as a subprocess (`python -m followup.sandbox.server --port 0 --ready-file F`).

All three bind the listening socket first, so that port 0 (any free port) works and
the base URL the sandbox puts in its `self` links is the one it really listens on.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.applications import Starlette

from followup.errors import ListenError
from followup.listen import listening_socket
from followup.sandbox import control
from followup.sandbox.app import create_app
from followup.sandbox.control import RequestStats
from followup.sandbox.faults import FaultConfig, Faults
from followup.sandbox.state import Flavor, SandboxState

DEFAULT_PORT = 8089
DEFAULT_STATE_PATH = ".followup/sandbox.sqlite3"


def open_state(
    path: str = ":memory:", *, flavor: Flavor = "cloud", seed: str | None = "demo"
) -> SandboxState:
    """Open (or create) a sandbox database, create the tables, and seed it if it is empty."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    state = SandboxState(path, flavor)
    control.init_schemas(state)
    if seed is not None and control.is_empty(state):
        control.load_dataset(state, control.named_dataset(seed, flavor))
    return state


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def _config(app: Starlette) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        http="h11",
        lifespan="off",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=2,
        date_header=False,  # the middleware dates answers by the sandbox's clock
    )


@dataclass
class RunningSandbox:
    """A sandbox serving in a background thread. Stop it with `stop()` (or `with`)."""

    url: str
    state: SandboxState
    app: Starlette
    _server: uvicorn.Server = field(repr=False)
    _thread: threading.Thread = field(repr=False)

    @property
    def faults(self) -> Faults:
        faults: Faults = self.app.state.faults
        return faults

    @property
    def stats(self) -> RequestStats:
        stats: RequestStats = self.app.state.stats
        return stats

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        self._thread.join(timeout)

    def __enter__(self) -> RunningSandbox:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def start_in_thread(
    state: SandboxState,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    faults: Faults | None = None,
    timeout: float = 10.0,
) -> RunningSandbox:
    """Serve `state` from a daemon thread on `port` (0: a free one) and wait until it is up."""
    sock = listening_socket(host, port)
    url = _url(host, sock)
    app = create_app(state, base_url=url, faults=faults)
    server = uvicorn.Server(_config(app))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"sandbox {url}", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            sock.close()
            raise RuntimeError(f"the sandbox did not start on {url}")
        time.sleep(0.005)
    return RunningSandbox(url=url, state=state, app=app, _server=server, _thread=thread)


def banner(state: SandboxState, url: str) -> str:
    """What `serve` prints: where the sandbox is, how to log in, how to point followup at it."""
    admin = control.admin_user(state)
    env = control.env_for(state, url)
    # Data Center has no REST API v3: advertise a path that answers on this flavor.
    server_info = "/rest/api/3/serverInfo" if state.flavor == "cloud" else "/rest/api/2/serverInfo"
    lines = [
        f"followup sandbox ({state.flavor}) listening on {url}",
        f"  Jira        {url}{server_info}     issues at {url}/browse/<KEY>",
        f"  Confluence  {url}/wiki",
        f"  Control     {url}/_sandbox/stats, /_sandbox/faults, /_sandbox/reset",
    ]
    if admin is not None:
        lines.append(f"  Log in as   {admin.email}  (API token: {admin.token})")
    else:
        lines.append("  No users yet: POST /_sandbox/reset or /_sandbox/seed to load some.")
    lines.append("")
    lines.append("Point followup at it:")
    lines.extend(f"  export {name}={value}" for name, value in env.items())
    return "\n".join(lines)


async def _serve(server: uvicorn.Server, sock: socket.socket, on_ready: Any) -> None:
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        on_ready()
    await task


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    flavor: Flavor = "cloud",
    seed: str = "demo",
    state_path: str = DEFAULT_STATE_PATH,
    faults: dict[str, Any] | None = None,
    ready_file: str | None = None,
) -> None:
    """Run the sandbox in the foreground until interrupted.

    The database at `state_path` is created (and seeded with `seed`, "demo" or "empty")
    when it is new or empty; an existing one is served as it is. `ready_file`, when
    given, receives the base URL once the server accepts connections.
    """
    fault_set = Faults(FaultConfig.from_json(faults)) if faults else None
    # The port first: a port in use must fail before the database is created or seeded.
    sock = listening_socket(host, port)
    try:
        state = open_state(state_path, flavor=flavor, seed=seed)
    except BaseException:
        sock.close()
        raise
    url = _url(host, sock)
    app = create_app(state, base_url=url, faults=fault_set)
    server = uvicorn.Server(_config(app))

    def ready() -> None:
        print(banner(state, url), flush=True)
        if ready_file:
            tmp = f"{ready_file}.tmp"
            Path(tmp).write_text(url + "\n", encoding="utf-8")
            os.replace(tmp, ready_file)

    asyncio.run(_serve(server, sock, ready))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m followup.sandbox.server",
        description="A local Jira Cloud + Confluence Cloud stand-in for followup.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port")
    parser.add_argument("--flavor", choices=("cloud", "datacenter"), default="cloud")
    parser.add_argument("--seed", choices=("demo", "empty"), default="demo")
    parser.add_argument("--state-path", default=DEFAULT_STATE_PATH, help="or :memory:")
    parser.add_argument("--faults", default=None, help="fault settings as JSON")
    parser.add_argument("--ready-file", default=None, help="write the base URL here when up")
    args = parser.parse_args(argv)
    flavor: Flavor = "datacenter" if args.flavor == "datacenter" else "cloud"
    try:
        serve(
            host=args.host,
            port=args.port,
            flavor=flavor,
            seed=args.seed,
            state_path=args.state_path,
            faults=json.loads(args.faults) if args.faults else None,
            ready_file=args.ready_file,
        )
    except KeyboardInterrupt:
        pass
    except ListenError as exc:
        print(f"error: {exc.show()}", file=sys.stderr)
        sys.exit(2)  # nothing was started: as argparse exits for a usage error


if __name__ == "__main__":
    main()
