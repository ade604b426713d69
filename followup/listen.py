"""A listening TCP socket for the servers followup runs (`followup serve`, the sandbox)."""

from __future__ import annotations

import socket

from followup.errors import ListenError

__all__ = ["listening_socket"]


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host`:`port` (0: a free port) and listening, inheritable by
    uvicorn's workers; a port in use or an address not on this host is a `ListenError`
    naming both."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # Accepted connections inherit it: without it every answer with a body (headers and
    # body written separately) waits ~40 ms for the client's delayed ACK (Nagle).
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ListenError(host, port, exc) from None
    sock.set_inheritable(True)
    return sock
