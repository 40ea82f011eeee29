"""The warm TFX runtime attacked through its socket and read through /proc, as a local process would.

- Garbage on the socket (random bytes, truncated frames, wrong descriptor counts, huge lengths, bad JSON) is
  refused request by request; the server then still runs a real request. Before the fix, 64 random bytes
  without a descriptor ended it with an IndexError.
- Secrets follow the step: the server starts with the stack's runtime environment (no Airflow secret, no S3
  key), and a child's /proc/<pid>/environ shows that block, never the keys its request brought.
"""

from __future__ import annotations

import json
import os
import random
import socket
from pathlib import Path

import pytest
from procfs import ProcFs
from warm_server import MODULES, call, running

from nightshift.core import warm_runtime
from nightshift.local.stack import Stack

pytestmark = [pytest.mark.security, pytest.mark.integration]

CANARIES = {  # what `make up`'s service environment holds; none may reach the runtime or its children
    "AIRFLOW__CORE__FERNET_KEY": "canary-fernet-3f9a", "AIRFLOW__API_AUTH__JWT_SECRET": "canary-jwt-77c1",
    "AIRFLOW__API__SECRET_KEY": "canary-api-secret-19be",
    "AIRFLOW_CONN_NIGHTSHIFT_S3": '{"conn_type":"aws","login":"p","password":"canary-publisher-52aa"}',
    "AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING": '{"conn_type":"aws","login":"s","password":"canary-scorer-0d3e"}',
    "NIGHTSHIFT_MLMD_PASSWORD": "canary-mlmd-6a02",
}
STEP_SECRET = "canary-step-key-e8d1"


@pytest.fixture()
def runtime(tmp_path: Path, test_env: dict[str, str]):
    """A warm server started with the environment the stack gives it (Stack.runtime_env), preloading `json`."""
    with running(tmp_path, Stack({**test_env, **CANARIES}).runtime_env()) as started:
        yield started


def test_the_runtime_process_holds_no_secret(runtime):
    proc, _, _ = runtime
    shown = ProcFs.environ(proc.pid)
    assert not set(shown) & set(CANARIES), sorted(shown)
    assert not {name for name in shown if "AWS_" in name or "_S3_" in name}, sorted(shown)
    assert not any(value in "\0".join(shown.values()) for value in CANARIES.values())


def test_a_child_holds_its_steps_key_in_memory_and_proc_shows_none_of_it(runtime):
    _, socket_path, _ = runtime
    env = {"PATH": os.environ["PATH"], "AWS_SECRET_ACCESS_KEY": STEP_SECRET}
    result, names = call(socket_path, "env", env=env)
    assert result.exit_code == 0 and "AWS_SECRET_ACCESS_KEY" in names  # the step has its key
    result, proc_lines = call(socket_path, "proc-environ", env=env)
    assert result.exit_code == 0 and proc_lines, proc_lines
    block = "\n".join(proc_lines)
    assert STEP_SECRET not in block and not any(v in block for v in CANARIES.values()), block


def _frames(rng: random.Random) -> list[tuple[bytes, int]]:
    """(bytes to send, number of descriptors to attach): 1,000 malformed requests of ten kinds."""
    def frame(body: bytes, size: int | None = None) -> bytes:
        return warm_runtime.HEADER.pack(len(body) if size is None else size) + body

    good = {"module": "warm_child", "argv": ["talk", "0"], "env": {}, "cwd": str(MODULES)}
    kinds = [
        lambda: (rng.randbytes(rng.randint(1, 256)), 0),                          # random bytes, no descriptor
        lambda: (rng.randbytes(rng.randint(1, 256)), 1),                          # random bytes, one descriptor
        lambda: (frame(json.dumps(good).encode())[: rng.randint(1, 20)], 1),      # truncated frame
        lambda: (frame(json.dumps(good).encode()), 0),                            # a valid frame, no descriptor
        lambda: (frame(json.dumps(good).encode()), 2),                            # two descriptors
        lambda: (frame(b"{}", size=rng.choice([2**31, 2**32 - 1, 2**20 + 1])), 1),  # huge declared length
        lambda: (frame(rng.randbytes(rng.randint(1, 64))), 1),                    # a body that is not JSON
        lambda: (frame(json.dumps(rng.choice([[], "x", 7, None])).encode()), 1),  # JSON, not an object
        lambda: (frame(json.dumps({**good, rng.choice(list(good)): rng.choice([None, 3, [1], {"a": 1}])}).encode()),
                 1),                                                               # a field of the wrong type
        lambda: (frame(json.dumps(_without(good, rng.choice(list(good)))).encode()), 1),  # a field missing
    ]
    return [kinds[i % len(kinds)]() for i in range(1000)]


def _without(request: dict, key: str) -> dict:
    return {k: v for k, v in request.items() if k != key}


def _send(socket_path: Path, data: bytes, n_fds: int) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fds = [os.open(os.devnull, os.O_WRONLY) for _ in range(n_fds)]
    try:
        sock.settimeout(15)
        sock.connect(str(socket_path))
        socket.send_fds(sock, [data], fds) if fds else sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):  # the server closes a refused connection; a child's status would come here
            pass
    except OSError:
        pass  # the server may close first: that is a refusal too
    finally:
        for fd in fds:
            os.close(fd)
        sock.close()


def test_a_thousand_malformed_requests_are_refused_and_a_real_node_still_runs(runtime):
    proc, socket_path, log_path = runtime
    frames = _frames(random.Random(20261207))
    for data, n_fds in frames:
        _send(socket_path, data, n_fds)
        assert proc.poll() is None, f"the runtime died on {data[:40]!r} with {n_fds} descriptors:\n" + \
            log_path.read_text()[-3000:]
    log = log_path.read_text()
    assert log.count("refused a request") == len(frames), log[-3000:]
    assert "Traceback" not in log, log[-3000:]
    result, lines = call(socket_path, "talk", "3")
    assert result.exit_code == 3 and lines[:2] == ["out one", "out two"]
