"""A warm TFX runtime server for tests: preloading only `json` (fast), in its own process group, given exactly
the environment a test names; and a caller that runs the test module `warm_child` in it."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nightshift.core import warm_runtime
from nightshift.core.config import load_settings

MODULES = Path(__file__).parent / "integration" / "warm_modules"


@contextmanager
def running(tmp_path: Path, env: dict[str, str]) -> Iterator[tuple[subprocess.Popen, Path, Path]]:
    """(process, socket, log); stopped by its PID at the end."""
    socket_path = tmp_path / "run" / "tfx.sock"
    log_path = tmp_path / "server.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([str(load_settings().runtime_python), "-m", "nightshift_tfx.warm_server",
                                 "--socket", str(socket_path), "--preload", "json"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not socket_path.exists():
            assert proc.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, "warm server did not bind within 60 s"
            time.sleep(0.1)
        yield proc, socket_path, log_path
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(30)


def call(socket_path: Path, *argv: str, env: dict[str, str] | None = None, on_connect=None):
    lines: list[str] = []
    result = warm_runtime.run(socket_path, "warm_child", list(argv), env or {"PATH": os.environ["PATH"]},
                              str(MODULES), lines.append, on_connect=on_connect)
    return result, lines
