"""Ports for a test's own servers, handed out by the OS, so two runs on one machine never collide."""

from __future__ import annotations

import socket

# SeaweedFS places its internal listeners at the S3 port + 1..5 and + 10000..10005 (nightshift.local.seaweed).
SEAWEED_SPAN = 10005


def free_port(span: int = 0) -> int:
    """A port on 127.0.0.1 that nothing listens on now, with `span` more port numbers above it (for a server
    that derives its other ports from the first). Another process could take it before the test binds it; the
    OS hands out ports in turn, so that is rare, and the test's server then fails to start with its message."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port + span <= 65535:
            return port
