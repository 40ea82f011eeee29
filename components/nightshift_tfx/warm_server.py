"""The warm TFX runtime: one process that imports TensorFlow, TFX, Beam and the components once, then runs
each request (`python -m MODULE ARGS`, e.g. one TFX node) in a fresh forked child.

A cold `python -m nightshift_tfx node ...` spends 5-7 s importing before the component starts; a forked child
starts with those modules already loaded. Each child is still its own process (own memory, own exit code,
own process group), so a node that crashes or leaks takes nothing else with it, and a task's timeout or
kill ends exactly its child. The protocol is in `nightshift.core.warm_runtime`; the stack starts this beside the
scheduler (`var/log/tfx-runtime.log`), and without it the operators start cold interpreters as before.

    python -m nightshift_tfx.warm_server --socket var/run/tfx-runtime.sock

The server is single-threaded (a selector over the listening socket and the open requests) and imports
without running anything, so forking it is safe: no other thread can hold a lock at fork time.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from nightshift.core.warm_runtime import HEADER, MAX_REQUEST_BYTES
from nightshift_tfx import warm_child

log = logging.getLogger("nightshift_tfx.warm_server")

TERM_GRACE_SECONDS = 10.0
REQUEST_SECONDS = 10.0  # a peer that connects must send its whole request within this


@dataclass
class Child:
    pid: int
    conn: socket.socket
    label: str
    started: float = field(default_factory=time.monotonic)
    cancelled_at: float | None = None


class WarmServer:
    def __init__(self, path: Path):
        self.path = path
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, Child] = {}
        self.listener: socket.socket | None = None
        self.stopping = False

    # -- setup --------------------------------------------------------------------------------------
    def bind(self) -> None:
        if self.path.exists() or self.path.is_symlink():
            if not stat.S_ISSOCK(self.path.lstat().st_mode):
                raise SystemExit(f"{self.path} exists and is not a socket; refusing to replace it")
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(self.path))
                raise SystemExit(f"a warm TFX runtime already answers on {self.path}")
            except ConnectionRefusedError:
                self.path.unlink()  # a socket left by a runtime that died: nobody listens on it
            finally:
                probe.close()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)
        try:
            listener.bind(str(self.path))  # created 0600: this user only
        finally:
            os.umask(old)
        listener.listen(16)
        self.socket_inode = self.path.stat().st_ino
        self.listener = listener
        self.selector.register(listener, selectors.EVENT_READ, None)

    # -- loop ---------------------------------------------------------------------------------------
    def serve(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # A child's exit wakes the selector at once (the status goes back without polling delay).
        self.wake_read, wake_write = os.pipe()
        os.set_blocking(self.wake_read, False)
        os.set_blocking(wake_write, False)
        signal.set_wakeup_fd(wake_write)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.wake_read, selectors.EVENT_READ, "wake")
        while not (self.stopping and not self.children):
            for key, _ in self.selector.select(timeout=1.0):
                if key.data == "wake":
                    while True:
                        try:
                            if not os.read(self.wake_read, 512):
                                break
                        except BlockingIOError:
                            break
                elif key.data is None:
                    if self.listener is not None:  # not closed by a stop signal in this same round
                        self._accept()
                else:
                    self._peer_event(key.data)
            self._reap()
            self._escalate()
        self._close_listener()
        log.info("stopped")

    def _close_listener(self) -> None:
        """Stop accepting and remove the socket this server made (and only that one)."""
        if self.listener is None:
            return
        self.selector.unregister(self.listener)
        self.listener.close()
        self.listener = None
        try:
            if self.path.stat().st_ino == self.socket_inode:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def _stop(self, signum: int, _frame: object) -> None:
        if self.stopping:
            return
        log.info("signal %d: ending %d running children, then stopping", signum, len(self.children))
        self.stopping = True
        self._close_listener()
        for child in self.children.values():
            self._cancel(child)

    def _accept(self) -> None:
        conn, _ = self.listener.accept()
        try:
            request, out_fd = self._read_request(conn)
        except EOFError:
            conn.close()
            return
        except Exception as exc:  # noqa: BLE001 - whatever a peer sends, the server refuses it and serves on
            log.warning("refused a request: %s: %s", exc.__class__.__name__, exc)
            conn.close()
            return
        label = f"{request['module']} {' '.join(request['argv'])}"
        pid = os.fork()
        if pid == 0:
            self._become_child(request, out_fd)  # never returns
        os.close(out_fd)
        self.children[pid] = Child(pid, conn, label)
        self.selector.register(conn, selectors.EVENT_READ, pid)
        log.info("pid %d: %s", pid, label)

    def _read_request(self, conn: socket.socket) -> tuple[dict, int]:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        _, uid, _ = struct.unpack("3i", creds)
        if uid != os.getuid():
            raise ValueError(f"peer uid {uid} is not this runtime's user")
        conn.settimeout(REQUEST_SECONDS)
        data, fds, _, _ = socket.recv_fds(conn, 65536, 2)  # room for one more than allowed: a second is refused
        if not data and not fds:
            raise EOFError  # a readiness probe: connected and left
        try:
            if len(fds) != 1:
                raise ValueError(f"expected one output descriptor, got {len(fds)}")
            request = _parse_request(data, conn)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise
        conn.settimeout(None)
        return request, fds[0]

    def _become_child(self, request: dict, out_fd: int) -> None:
        """In the forked child: drop the server's sockets, then become the request (never returns)."""
        signal.set_wakeup_fd(-1)
        for conn in [c.conn for c in self.children.values()]:
            conn.close()
        if self.listener is not None:
            self.listener.close()
        self.selector.close()
        warm_child.become(request, out_fd)

    def _peer_event(self, pid: int) -> None:
        child = self.children.get(pid)
        if child is None:
            return
        try:
            data = child.conn.recv(1)
        except OSError:
            data = b""
        if not data:  # the caller went away (task killed or timed out): end its child
            self.selector.unregister(child.conn)
            log.info("pid %d: caller disconnected; ending it", pid)
            self._cancel(child)

    def _cancel(self, child: Child) -> None:
        if child.cancelled_at is None:
            child.cancelled_at = time.monotonic()
            _signal_group(child.pid, signal.SIGTERM)

    def _escalate(self) -> None:
        now = time.monotonic()
        for child in self.children.values():
            if child.cancelled_at is not None and now - child.cancelled_at > TERM_GRACE_SECONDS:
                _signal_group(child.pid, signal.SIGKILL)

    def _reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            child = self.children.pop(pid, None)
            if child is None:
                continue
            _signal_group(pid, signal.SIGKILL)  # anything the child left behind in its group
            result = {"exit_code": os.waitstatus_to_exitcode(status),
                      "wall_s": round(time.monotonic() - child.started, 3),
                      "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                      "max_rss_kb": usage.ru_maxrss}
            log.info("pid %d: %s -> %s", pid, child.label, result)
            try:
                self.selector.unregister(child.conn)
            except (KeyError, ValueError):
                pass
            try:
                child.conn.sendall((json.dumps(result) + "\n").encode())
            except OSError:
                pass  # the caller is gone
            child.conn.close()


def _parse_request(data: bytes, conn: socket.socket) -> dict:
    """The request frame (length + JSON), read to its end and checked field by field before anything forks."""
    if len(data) < HEADER.size:
        raise ValueError("short request header")
    (size,) = HEADER.unpack(data[:HEADER.size])
    if size > MAX_REQUEST_BYTES:
        raise ValueError(f"request of {size} bytes exceeds {MAX_REQUEST_BYTES}")
    body = data[HEADER.size:]
    while len(body) < size:
        chunk = conn.recv(size - len(body))
        if not chunk:
            raise ValueError("request cut short")
        body += chunk
    if len(body) != size:
        raise ValueError(f"request body of {len(body)} bytes, header said {size}")
    request = json.loads(body)
    if not isinstance(request, dict):
        raise ValueError("request is not a JSON object")
    if not (isinstance(request.get("module"), str) and request["module"]):
        raise ValueError("request 'module' must be a non-empty string")
    if not (isinstance(request.get("argv"), list) and all(isinstance(a, str) for a in request["argv"])):
        raise ValueError("request 'argv' must be a list of strings")
    env = request.get("env")
    if not (isinstance(env, dict) and all(isinstance(k, str) and isinstance(v, str) and k and "=" not in k
                                          and "\0" not in k + v for k, v in env.items())):
        raise ValueError("request 'env' must map names to strings")
    if not (isinstance(request.get("cwd"), str) and os.path.isdir(request["cwd"])):
        raise ValueError("request 'cwd' must name an existing folder")
    return request


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift_tfx.warm_server")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--preload", help="comma-separated modules instead of the TFX set (tests)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr, force=True)
    server = WarmServer(args.socket.resolve())
    modules = tuple(m for m in args.preload.split(",") if m) if args.preload is not None else warm_child.PRELOAD
    seconds = warm_child.preload(modules)
    server.bind()  # only now: a caller that connects finds everything loaded
    log.info("warm TFX runtime ready on %s (preloaded %d modules in %.1f s)", server.path, len(modules), seconds)
    server.serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
