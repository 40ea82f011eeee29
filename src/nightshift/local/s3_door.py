"""The one door to object storage: SeaweedFS's S3 gateway is the only listener anything else can reach.

`weed mini` opens master, volume, filer, WebDAV and admin listeners beside the S3 gateway, and only the gateway
checks identities: the filer's HTTP and gRPC APIs read and write every bucket without a signature. SeaweedFS's
own answer (security.toml) signs volume and filer traffic with JWTs, but its master hands a write token to any
caller of /dir/assign, and the filer's gRPC API needs mutual TLS with a private CA. So instead of hardening
each listener, none of them is reachable:

- embedded default (`--isolate`): this process binds the door on the host's loopback, then moves itself into a
  new user and network namespace that has only its own loopback, and starts weed there. weed's listeners exist
  in that namespace alone; no process outside it (another user, a pipeline's module code) can connect to them.
- compose: the store runs on a network of its own (`internal: true`) whose only other member is the door
  container, so no other container reaches the store's ports.

In both, this process forwards TCP from the door to the gateway. It is written by hand (asyncio streams, ~40
lines) because the well-kept forwarders (socat, HAProxy) are not Python packages and cannot enter a namespace
created after their listener was bound.

    python -m nightshift.local.s3_door --listen 127.0.0.1:8333 --target 127.0.0.1:8333 --isolate -- weed mini ...
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import struct
import subprocess
import sys
from pathlib import Path

log = logging.getLogger("nightshift.s3_door")

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS, _SIOCSIFFLAGS, _IFF_UP = 0x8913, 0x8914, 0x1
_CHUNK = 1 << 18


class IsolationUnavailable(RuntimeError):
    """The kernel refused a private network namespace (user namespaces disabled for this user)."""


def isolate_network() -> None:
    """Enter a new user + network namespace holding only a loopback interface, and bring that loopback up.

    The user namespace maps this user to itself, so files weed writes are owned as before."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWNET
    try:
        if hasattr(os, "unshare"):  # Python 3.12+
            os.unshare(flags)
        else:  # the TFX interpreter (3.10) starts test servers too
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.unshare(flags) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
    except OSError as exc:
        raise IsolationUnavailable(
            f"cannot create a private network namespace for SeaweedFS ({exc}); enable unprivileged user "
            "namespaces (sysctl kernel.unprivileged_userns_clone=1) or set NIGHTSHIFT_S3_ISOLATION=off to run "
            "its internal listeners on the shared loopback (any local process can then bypass S3 identities)"
        ) from exc
    Path("/proc/self/setgroups").write_text("deny")
    Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
    Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", 0)
        (current,) = struct.unpack_from("H", fcntl.ioctl(sock, _SIOCGIFFLAGS, request), 16)
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack("16sH22x", b"lo", current | _IFF_UP))


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: expected HOST:PORT")
    return host, int(port)


def bind(address: tuple[str, int]) -> socket.socket:
    listener = socket.create_server(address, reuse_port=False, backlog=128)
    listener.setblocking(False)
    return listener


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still carry the answer
    except (ConnectionError, OSError):
        writer.close()


async def forward(listener: socket.socket, target: tuple[str, int], child: subprocess.Popen | None) -> int:
    """Serve the door until a stop signal, or until the store (`child`) exits; the exit code to end with.

    Open connections are cut at stop: a client's keep-alive connection must not hold the store up."""
    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            store_r, store_w = await asyncio.open_connection(*target)
        except OSError:  # the store is still starting (or gone): the client sees a closed connection
            client_w.close()
            return
        open_writers.update((client_w, store_w))
        try:
            await asyncio.gather(_pump(client_r, store_w), _pump(store_r, client_w))
        finally:
            for writer in (client_w, store_w):
                open_writers.discard(writer)
                writer.close()

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if child is not None:  # SeaweedFS reloads its S3 identities on SIGHUP (nightshift.local.store_identities)
        loop.add_signal_handler(signal.SIGHUP, child.send_signal, signal.SIGHUP)
    server = await asyncio.start_server(handle, sock=listener, limit=_CHUNK)
    log.info("door open on %s:%d -> %s:%d", *listener.getsockname()[:2], *target)
    code = 0
    while not stop.is_set():
        if child is not None and child.poll() is not None:
            log.error("the store exited with %s", child.returncode)
            code = child.returncode or 1
            break
        with contextlib.suppress(asyncio.TimeoutError):  # not the builtin TimeoutError before Python 3.11
            await asyncio.wait_for(stop.wait(), 0.5)
    server.close()
    for writer in list(open_writers):
        writer.transport.abort()
    return code


def end_child(child: subprocess.Popen, timeout: float = 20.0) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift.local.s3_door")
    parser.add_argument("--listen", type=_address, required=True, help="HOST:PORT of the door")
    parser.add_argument("--target", type=_address, required=True, help="HOST:PORT of the S3 gateway")
    parser.add_argument("--isolate", action="store_true",
                        help="start the command in a private network namespace (its listeners unreachable)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- the store's command line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    listener = bind(args.listen)  # in the host's namespace: it stays there after the move below
    if args.isolate:
        try:
            isolate_network()
        except IsolationUnavailable as exc:
            print(f"s3_door: {exc}", file=sys.stderr)
            return 3
    child = subprocess.Popen(command) if command else None
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # until forward() passes it on: never end the door
    try:
        return asyncio.run(forward(listener, args.target, child))
    finally:
        if child is not None:
            end_child(child)


if __name__ == "__main__":
    sys.exit(main())
