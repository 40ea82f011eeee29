"""Client side of the warm TFX runtime: run `python -m MODULE ARGS` in a child of a process that has already
imported TensorFlow, TFX and Beam, instead of paying those imports in a new interpreter for every task.

The server (`nightshift_tfx.warm_server`, in the runtime interpreter) listens on a Unix socket in the
checkout's owner-only run folder. One request per connection:

    client -> server   4-byte length + JSON {"module", "argv", "env", "cwd"}, with one file descriptor attached
                       (SCM_RIGHTS): the write end of a pipe that becomes the child's stdout and stderr
    server -> client   one JSON line when the child has ended: {"exit_code", "wall_s", "cpu_s", "max_rss_kb"}

The child's output goes straight into the caller's pipe (no relay), so a task log shows it as it is written.
Closing the connection early (task killed, timed out) makes the server end the child's process group.
The environment travels over the socket, never on a command line; it holds the task's S3 keys.

Stdlib only: both interpreters import this module (the server reads the protocol constants).
"""

from __future__ import annotations

import json
import os
import selectors
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 1 << 20
SOCKET_NAME = "tfx-runtime.sock"
DRAIN_SECONDS = 5.0


class WarmRuntimeUnavailable(ConnectionError):
    """Nobody answers on the socket: the caller starts a cold interpreter instead."""


@dataclass(frozen=True)
class ChildResult:
    """What the server measured for one child: its exit code and its own resource use (os.wait4)."""

    exit_code: int
    wall_s: float
    cpu_s: float
    max_rss_kb: int

    @classmethod
    def from_json(cls, line: bytes) -> ChildResult:
        data = json.loads(line)
        return cls(int(data["exit_code"]), float(data["wall_s"]), float(data["cpu_s"]), int(data["max_rss_kb"]))

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)

    def describe(self) -> str:
        return (f"exit {self.exit_code}; wall {self.wall_s:.1f} s, cpu {self.cpu_s:.1f} s, "
                f"peak RSS {self.max_rss_kb / 1024:.0f} MiB")


def encode_request(module: str, argv: list[str], env: dict[str, str], cwd: str) -> bytes:
    body = json.dumps({"module": module, "argv": list(argv), "env": dict(env), "cwd": cwd}).encode()
    if len(body) > MAX_REQUEST_BYTES:
        raise ValueError(f"warm runtime request of {len(body)} bytes exceeds {MAX_REQUEST_BYTES}")
    return HEADER.pack(len(body)) + body


def run(socket_path: Path, module: str, argv: list[str], env: dict[str, str], cwd: str,
        on_line: Callable[[str], None], on_connect: Callable[[socket.socket], None] | None = None,
        connect_timeout: float = 5.0) -> ChildResult:
    """Run `python -m module *argv` in the warm runtime; each output line goes to `on_line` as it arrives.

    Raises WarmRuntimeUnavailable before anything ran (nobody listening), so falling back is always safe.
    Any exception while the child runs (including the task's own timeout) closes the connection, which
    ends the child; `on_connect` gets the socket, so a kill handler can shut it down (see `cancel`).
    """
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(connect_timeout)
    try:
        sock.connect(str(socket_path))
    except (FileNotFoundError, ConnectionRefusedError, TimeoutError) as exc:
        sock.close()
        raise WarmRuntimeUnavailable(f"no warm TFX runtime on {socket_path}: {exc.__class__.__name__}") from exc
    if on_connect is not None:
        on_connect(sock)
    read_fd, write_fd = os.pipe()
    try:
        sock.settimeout(None)
        socket.send_fds(sock, [encode_request(module, argv, env, cwd)], [write_fd])
        os.close(write_fd)
        write_fd = -1
        return _follow(sock, read_fd, on_line)
    finally:
        if write_fd >= 0:
            os.close(write_fd)
        os.close(read_fd)
        sock.close()


def cancel(sock: socket.socket) -> None:
    """End a running request from a signal handler: the server sees the connection close and ends the child."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed: the request has ended


def _follow(sock: socket.socket, read_fd: int, on_line: Callable[[str], None]) -> ChildResult:
    """Stream the pipe line by line until the server reports the exit; then drain what is left in the pipe."""
    selector = selectors.DefaultSelector()
    selector.register(read_fd, selectors.EVENT_READ, "out")
    selector.register(sock, selectors.EVENT_READ, "status")
    pending = b""
    status = b""
    pipe_open = True
    drain_until = None  # once the exit status is in: what a process that escaped the group still writes
    try:
        while pipe_open and (drain_until is None or time.monotonic() < drain_until):
            timeout = None if drain_until is None else max(0.0, drain_until - time.monotonic())
            for key, _ in selector.select(timeout):
                if key.data == "out":
                    chunk = os.read(read_fd, 65536)
                    if not chunk:
                        selector.unregister(read_fd)
                        pipe_open = False
                        continue
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        on_line(line.decode(errors="replace"))
                else:
                    status += _recv_status(sock)
                    if status.endswith(b"\n"):
                        selector.unregister(sock)
                        drain_until = time.monotonic() + DRAIN_SECONDS
    finally:
        selector.close()
    if pending:
        on_line(pending.decode(errors="replace"))
    if not status.endswith(b"\n"):  # the pipe closed, but the child has not been reported yet
        while not status.endswith(b"\n"):
            status += _recv_status(sock)
    return ChildResult.from_json(status)


def _recv_status(sock: socket.socket) -> bytes:
    chunk = sock.recv(4096)
    if not chunk:
        raise ConnectionError("the warm TFX runtime closed the connection without an exit status; "
                              "see its log (var/log/tfx-runtime.log)")
    return chunk
