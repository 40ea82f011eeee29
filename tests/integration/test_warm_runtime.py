"""The warm TFX runtime (nightshift_tfx.warm_server + nightshift.core.warm_runtime): a real server in the runtime
interpreter, real forked children, real signals. The children run a small test module instead of TFX so each
behaviour is seen alone; the e2e suite runs every TFX node of every DAG through the same server."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from warm_server import MODULES, call, running

from nightshift.core import warm_runtime
from nightshift.core.config import load_settings

pytestmark = pytest.mark.integration

SECRET = "warm-test-secret-value-4c1d"


@pytest.fixture()
def server(tmp_path: Path):
    """A warm server preloading only `json` (fast), in its own process group; stopped by its PID."""
    with running(tmp_path, {**os.environ, "WARM_TEST_SERVER_ONLY": "1"}) as started:
        yield started


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pid: int, seconds: float = 15) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.1)
    return False


def test_output_and_exit_code_come_back_as_a_cold_interpreter_would_give_them(server):
    _, socket_path, _ = server
    started = time.monotonic()
    result, lines = call(socket_path, "talk", "3")
    outside = time.monotonic() - started
    assert result.exit_code == 3
    assert lines[:2] == ["out one", "out two"] and sorted(lines) == ["err one", "out one", "out two"]
    # The child's own wall time: inside the call that waited for it, and its peak memory, from the kernel.
    assert 0 < result.wall_s <= outside and result.max_rss_kb > 0
    cold = subprocess.run([str(load_settings().runtime_python), "-m", "warm_child", "talk", "3"], cwd=MODULES,
                          capture_output=True, text=True)
    assert cold.returncode == result.exit_code and cold.stdout.splitlines() == lines[:2]


def test_an_exception_is_exit_1_with_its_traceback(server):
    result, lines = call(server[1], "raise")
    assert result.exit_code == 1
    assert lines[-1] == "ValueError: broken on purpose"


def test_the_child_sees_the_request_environment_only_and_no_secret_reaches_the_log(server):
    proc, socket_path, log_path = server
    result, lines = call(socket_path, "env", env={"PATH": os.environ["PATH"], "AWS_SECRET_ACCESS_KEY": SECRET})
    assert result.exit_code == 0
    assert "AWS_SECRET_ACCESS_KEY" in lines and "WARM_TEST_SERVER_ONLY" not in lines
    assert SECRET not in log_path.read_text()
    assert SECRET.encode() not in Path(f"/proc/{proc.pid}/cmdline").read_bytes()


def test_a_caller_that_goes_away_ends_its_child_and_the_server_serves_on(server, tmp_path):
    _, socket_path, _ = server
    pid_file = tmp_path / "sleeper.pid"
    sockets = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            call(socket_path, "sleep", str(pid_file), on_connect=sockets.append)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline, "the sleeping child never started"
        time.sleep(0.1)
    child = int(pid_file.read_text())
    assert alive(child)
    warm_runtime.cancel(sockets[0])  # what the operator's on_kill does
    thread.join(30)
    assert not thread.is_alive()
    assert [type(e) for e in errors] == [ConnectionError]
    assert wait_gone(child), f"child {child} still runs after its caller left"
    assert call(socket_path, "talk", "0")[0].exit_code == 0


def test_what_a_child_leaves_behind_in_its_group_is_ended_with_it(server, tmp_path):
    pid_file = tmp_path / "orphan.pid"
    result, lines = call(server[1], "orphan", str(pid_file))
    orphan = int(pid_file.read_text())
    assert result.exit_code == 0 and lines == [f"left {orphan}"]
    assert wait_gone(orphan)


def test_stopping_the_server_ends_its_children_and_removes_only_its_socket(server, tmp_path):
    proc, socket_path, _ = server
    pid_file = tmp_path / "sleeper.pid"
    results = []
    thread = threading.Thread(target=lambda: results.append(call(socket_path, "sleep", str(pid_file))[0]))
    thread.start()
    deadline = time.monotonic() + 20
    while not (pid_file.exists() and pid_file.read_text()):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    child = int(pid_file.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 0
    thread.join(30)
    assert [r.exit_code for r in results] == [-signal.SIGTERM]  # the caller learns how its child ended
    assert not alive(child)
    assert not socket_path.exists() and socket_path.parent.is_dir()


def test_nobody_listening_is_reported_before_anything_runs(tmp_path):
    with pytest.raises(warm_runtime.WarmRuntimeUnavailable, match="no warm TFX runtime"):
        call(tmp_path / "absent.sock", "talk", "0")


def test_the_hook_runs_warm_when_the_runtime_listens_and_cold_when_it_does_not(server, monkeypatch):
    """TfxRuntimeHook: same exit code either way; only the warm path has the runtime's measurements."""
    from dataclasses import replace

    from nightshift_airflow.hooks import TfxRuntimeHook

    class FakeS3:
        def runtime_env(self) -> dict[str, str]:
            return {"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": SECRET}

    monkeypatch.setattr(TfxRuntimeHook, "environment", lambda self: {"PATH": os.environ["PATH"]})
    settings = replace(load_settings(), project_root=MODULES, runtime_socket=server[1])
    warm = TfxRuntimeHook(settings, FakeS3())
    assert warm.run_module("warm_child", ["talk", "4"]) == 4
    assert warm.last_result is not None and warm.last_result.exit_code == 4
    cold = TfxRuntimeHook(replace(settings, runtime_socket=server[1].parent / "absent.sock"), FakeS3())
    assert cold.run_module("warm_child", ["talk", "4"]) == 4
    assert cold.last_result is None  # no socket: a cold interpreter ran it, with no runtime's figures
    # NIGHTSHIFT_RUNTIME_SOCKET=off: no socket is looked for at all, so a cold interpreter runs it.
    monkeypatch.setenv("NIGHTSHIFT_RUNTIME_SOCKET", "off")
    off = load_settings()
    assert off.runtime_socket is None
    forced = TfxRuntimeHook(replace(off, project_root=MODULES), FakeS3())
    assert forced.run_module("warm_child", ["talk", "5"]) == 5 and forced.last_result is None
