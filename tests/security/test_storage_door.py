"""The one door to storage, attacked from outside as another local process would: every port SeaweedFS is told to
open, raw HTTP to the filer's API (which reads and writes buckets without credentials when reachable), unsigned
S3 requests to the door, and the kernel's own view of what listens where."""

from __future__ import annotations

import errno
import os
import re
import socket
import uuid
from pathlib import Path

import pytest
import requests
from procfs import ProcFs

from nightshift.local import pidfile, seaweed

pytestmark = [pytest.mark.security, pytest.mark.integration]


@pytest.fixture(scope="module")
def door(s3_server) -> dict:
    var = Path(s3_server["NIGHTSHIFT_VAR_DIR"])
    pid = pidfile.running(var / "run" / "seaweedfs.pid")
    assert pid is not None, "the session's SeaweedFS is not running"
    port = int(s3_server["NIGHTSHIFT_S3_PORT"])
    return {"pid": pid, "port": port, "env": s3_server}


def _internal_ports(port: int) -> list[int]:
    """Every port weed mini is told to open besides the S3 gateway (HTTP and gRPC of each server)."""
    flags = seaweed.SeaweedPorts(port).flags()
    ports = {int(m.group(1)) for f in flags if (m := re.search(r"=(\d+)$", f)) and int(m.group(1)) > 0}
    return sorted(ports - {port})


def _connect_errno(port: int) -> int:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port))


def test_every_internal_listener_of_the_store_refuses_connections_from_the_host(door):
    ports = _internal_ports(door["port"])
    assert len(ports) == 10  # master, volume, filer (HTTP + gRPC each), WebDAV, admin (HTTP + gRPC), S3 gRPC
    assert {p: _connect_errno(p) for p in ports} == {p: errno.ECONNREFUSED for p in ports}
    assert _connect_errno(door["port"]) == 0


def test_the_filer_api_cannot_read_or_write_a_bucket(door, s3):
    """Before the door, `GET :<filer>/buckets/<bucket>/<key>` returned the object and a multipart POST wrote one."""
    bucket = f"t-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="CURRENT.json", Body=b'{"version": 1}')
    filer = door["port"] + 3
    for method, kwargs in (("GET", {}), ("POST", {"files": {"file": ("CURRENT.json", b'{"version": 666}')}})):
        with pytest.raises(requests.exceptions.ConnectionError):
            requests.request(method, f"http://127.0.0.1:{filer}/buckets/{bucket}/CURRENT.json", timeout=5, **kwargs)
    assert s3.get_object(Bucket=bucket, Key="CURRENT.json")["Body"].read() == b'{"version": 1}'


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/", None), ("GET", "/nightshift-models/taxi/CURRENT.json", None),
    ("PUT", "/nightshift-models/taxi/CURRENT.json", b'{"version": 666}'), ("DELETE", "/nightshift-models", None),
])
def test_the_door_answers_unsigned_requests_with_403(door, method, path, body):
    resp = requests.request(method, f"http://127.0.0.1:{door['port']}{path}", data=body, timeout=10)
    assert resp.status_code == 403, (method, path, resp.status_code, resp.text[:200])


def test_the_kernel_sees_one_listener_of_the_store_on_the_hosts_network(door):
    """Read from /proc, not from what the store says: in this (the host's) network namespace the store's whole
    process tree listens on exactly one socket, the door on 127.0.0.1; weed itself lives in another namespace."""
    tree = ProcFs.tree([door["pid"]])
    weed = [pid for pid in tree if ProcFs.cmdline(pid).split(" ")[0].endswith("/weed")]
    assert len(weed) == 1, {pid: ProcFs.cmdline(pid) for pid in tree}
    assert ProcFs.netns(weed[0]) != ProcFs.netns(os.getpid())
    assert sorted((addr, port) for _, addr, port in ProcFs.listening(tree)) == [("127.0.0.1", door["port"])]
