"""The embedded local stack: SeaweedFS + Airflow (API server/UI, scheduler, DAG processor), loopback only.

`make up` / `make down` call `python -m nightshift.local.stack up|down`; the end-to-end tests
start the same stack on other ports in a temporary folder. Processes are tracked by PID files and
stopped by PID, never by name.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from nightshift.control import airflow_db
from nightshift.control.s3_roles import MODELS_BUCKET, PUSHER_SEED_VAR, RAW_BUCKET, ROLES, key_vars
from nightshift.core.config import PROJECT_ROOT
from nightshift.core.private_file import write_private
from nightshift.core.s3 import ensure_bucket
from nightshift.local import envfile, pidfile, seaweed, store_identities
from nightshift.local.commands import airflow_commands, celery_worker_command

RUNTIME = "tfx-runtime"  # the warm TFX runtime's process name (PID file, log file)
# What only task code uses: the S3 connections and the pusher seed.
STORAGE_SECRETS = ("AIRFLOW_CONN_NIGHTSHIFT_S3", "AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING",
                   "AIRFLOW_CONN_NIGHTSHIFT_S3_READER", PUSHER_SEED_VAR)


@dataclass
class Stack:
    env: dict[str, str]  # the full environment for every process (from .env, or a test's own)

    @property
    def var(self) -> Path:
        return Path(self.env["NIGHTSHIFT_VAR_DIR"])

    @property
    def run_dir(self) -> Path:
        return self.var / "run"

    @property
    def log_dir(self) -> Path:
        return self.var / "log"

    @property
    def api_port(self) -> int:
        return int(self.env["AIRFLOW__API__PORT"])

    @property
    def bin_dir(self) -> Path:
        return Path(sys.executable).parent

    def process_env(self) -> dict[str, str]:
        """A shell of this checkout (the CLI's): every setting, every identity."""
        env = {**os.environ, **self.env}
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    def service_env(self) -> dict[str, str]:
        """Airflow's processes: no S3 keys of their own. Tasks act through their DAG's connection
        (nightshift_s3: publisher; nightshift_s3_scoring: scorer), and TFX children get that one alone."""
        doomed = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
        doomed |= {name for role in ROLES for name in key_vars(role)}
        return {k: v for k, v in self.process_env().items() if k not in doomed}

    # -- helpers ----------------------------------------------------------------------------------
    def _pid(self, name: str) -> int | None:
        """The PID of the process this stack started as `name`, if that very process still runs."""
        path = self.run_dir / f"{name}.pid"
        pid = pidfile.running(path)
        if pid is None:
            return None
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child that exited: reap it, it is gone
                path.unlink(missing_ok=True)
                return None
        except ChildProcessError:
            pass  # started by another process (e.g. `make up`): its start time was checked above
        return pid

    def runtime_env(self) -> dict[str, str]:
        """The warm TFX runtime's own environment: no secret at all (each request carries its step's keys)."""
        from nightshift.core.step_env import server_environment

        return server_environment(self.service_env())

    def _spawn(self, name: str, cmd: list[str], extra_env: dict[str, str] | None = None,
               env: dict[str, str] | None = None) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = os.fdopen(os.open(self.log_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        env = {**(self.service_env() if env is None else env), **(extra_env or {})}
        # umask 077: everything the services create (Airflow's SQLite database, task logs, run folders) is
        # readable by this user only.
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, umask=0o077,
                                cwd=self.env.get("NIGHTSHIFT_HOME", str(PROJECT_ROOT)), start_new_session=True)
        pidfile.write(self.run_dir / f"{name}.pid", proc.pid)
        return proc.pid

    def airflow(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess:
        return subprocess.run([str(self.bin_dir / "airflow"), *args], env=self.service_env(), check=check, umask=0o077,
                              capture_output=capture, text=True)

    # -- lifecycle --------------------------------------------------------------------------------
    def init(self) -> None:
        """Create folders and migrate Airflow's metadata database (skipped when already current)."""
        home = Path(self.env["AIRFLOW_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        self.var.chmod(0o700)  # the data, databases and logs of this checkout: its user's alone
        stamp = home / ".migrated"
        if not stamp.exists():
            self.ensure_database()
            self.airflow("db", "migrate", capture=True)
            write_private(stamp, "ok\n")
        db_file = airflow_db.sqlite_path(self.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
        if db_file is not None:
            airflow_db.enable_wal(db_file)
            for part in (db_file, db_file.with_name(db_file.name + "-wal"), db_file.with_name(db_file.name + "-shm")):
                if part.exists():
                    part.chmod(0o600)  # a database made before the umask above

    def ensure_buckets(self) -> None:
        """The raw zone and the models bucket, made by the admin identity: the roles may not create buckets."""
        import boto3
        from botocore.config import Config

        client = boto3.session.Session().client(
            "s3", endpoint_url=self.env["NIGHTSHIFT_S3_ENDPOINT"], region_name="us-east-1",
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}))
        for bucket in (RAW_BUCKET, MODELS_BUCKET):
            ensure_bucket(client, bucket)

    def ensure_database(self) -> None:
        """Create the PostgreSQL database a profile names, if missing (SQLite needs nothing)."""
        from urllib.parse import urlsplit

        url = urlsplit(self.env.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", ""))
        if not url.scheme.startswith("postgresql"):
            return
        import psycopg2

        name = url.path.lstrip("/")
        conn = psycopg2.connect(host=url.hostname, port=url.port or 5432, user=url.username,
                                password=url.password, dbname="postgres", connect_timeout=10)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            conn.close()

    def up(self, *, airflow: bool = True, timeout: float = 180.0) -> None:
        self.init()
        if self._pid("seaweedfs") is None:
            admin = (self.env["AWS_ACCESS_KEY_ID"], self.env["AWS_SECRET_ACCESS_KEY"])
            proc = seaweed.start(self.var / "seaweedfs", seaweed.SeaweedPorts(int(self.env["NIGHTSHIFT_S3_PORT"])),
                                 *admin, self._log("seaweedfs"), identities=store_identities.identities(self.env))
            pidfile.write(self.run_dir / "seaweedfs.pid", proc.pid)
        else:  # running already: it learns the pusher of any pipeline added since it started
            store_identities.sync(self.env)
        self.ensure_buckets()
        if not airflow:
            return
        runtime = self.runtime_command()
        if runtime and self._pid(RUNTIME) is None:  # preloads while Airflow starts
            self._spawn(RUNTIME, runtime, env=self.runtime_env())
        airflow_bin = str(self.bin_dir / "airflow")
        if self._pid("api-server") is None and seaweed.port_open(self.api_port):
            raise RuntimeError(f"127.0.0.1:{self.api_port} is already in use by a process this stack did not start; "
                               "stop it or choose another AIRFLOW__API__PORT")
        for name, args in self.processes().items():
            if self._pid(name) is None:
                self._spawn(name, [airflow_bin, *args], env=self.airflow_env(name))
        self.wait_api(timeout)
        for name in self.worker_names():
            self.wait_log_line(name, " ready.", timeout)
        if runtime:
            self.wait_runtime(Path(runtime[-1]), timeout)

    def wait_runtime(self, socket_path: Path, timeout: float) -> None:
        """Wait until the warm runtime accepts connections (it binds its socket once it has preloaded)."""
        import socket

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                probe.connect(str(socket_path))
                return
            except OSError:
                pass
            finally:
                probe.close()
            if self._pid(RUNTIME) is None:
                raise RuntimeError(f"the warm TFX runtime exited; see {self._log(RUNTIME)}")
            time.sleep(1)
        raise TimeoutError(f"warm TFX runtime not ready on {socket_path} after {timeout:.0f}s; "
                           f"see {self._log(RUNTIME)}")

    def runtime_command(self) -> list[str]:
        """The warm TFX runtime (nightshift_tfx.warm_server) on the socket the settings name; [] when off."""
        from nightshift.core.config import load_settings

        settings = load_settings(self.env)
        if settings.runtime_socket is None:
            return []
        return [str(settings.runtime_python), "-m", "nightshift_tfx.warm_server",
                "--socket", str(settings.runtime_socket)]

    def wait_log_line(self, name: str, marker: str, timeout: float) -> None:
        """Wait until process `name` logs `marker` (Celery logs '<name>@host ready.' once it consumes tasks)."""
        deadline = time.monotonic() + timeout
        log = self._log(name)
        while time.monotonic() < deadline:
            if log.exists() and marker in log.read_text(errors="replace"):
                return
            if self._pid(name) is None:
                raise RuntimeError(f"{name} exited before it was ready; see {log}")
            time.sleep(1)
        raise TimeoutError(f"{name} not ready after {timeout:.0f}s; see {log}")

    @property
    def celery(self) -> bool:
        return self.env.get("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor"

    def worker_names(self) -> list[str]:
        return [f"worker-{i}" for i in range(1, int(self.env.get("NIGHTSHIFT_CELERY_WORKERS", "0")) + 1)]

    def processes(self) -> dict[str, list[str]]:
        """What runs: API server, scheduler, DAG processor; with Celery also the triggerer and the workers."""
        commands = airflow_commands("127.0.0.1", self.api_port)
        if not self.celery:
            commands.pop("triggerer")
            return commands
        return {**commands, **{name: celery_worker_command(name) for name in self.worker_names()}}

    def runs_tasks(self, name: str) -> bool:
        """Whether Airflow process `name` runs task code: Celery's workers, or LocalExecutor's scheduler. (Airflow 3
        signs a task's extra links in the task itself and keeps them in XCom: the API server signs nothing.)"""
        return name.startswith("worker-") or (name == "scheduler" and not self.celery)

    def airflow_env(self, name: str) -> dict[str, str]:
        """Airflow process `name`'s environment: the storage connections and the pusher seed only where tasks
        run; the API server, the DAG processor and the triggerer (and Celery's scheduler) never use them, so
        they never hold them."""
        env = self.service_env()
        if not self.runs_tasks(name):
            env = {k: v for k, v in env.items() if k not in STORAGE_SECRETS}
        if name.startswith("worker-"):
            env["NIGHTSHIFT_WORKER_NAME"] = name
        return env

    def _log(self, name: str) -> Path:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        return self.log_dir / f"{name}.log"

    def wait_api(self, timeout: float) -> None:
        import urllib.request

        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.api_port}/api/v2/monitor/health"
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=3) as resp:  # loopback only
                    if resp.status == 200:
                        return
            except OSError:
                pass
            if self._pid("api-server") is None:
                raise RuntimeError(f"the Airflow API server exited; see {self._log('api-server')}")
            time.sleep(1)
        raise TimeoutError(f"Airflow API on 127.0.0.1:{self.api_port} not healthy after {timeout:.0f}s")

    def down(self, *, include_s3: bool = True) -> list[str]:
        stopped = []
        names = (*self.worker_names(), "triggerer", "dag-processor", "scheduler", "api-server", RUNTIME) + (
            ("seaweedfs",) if include_s3 else ())
        for name in names:
            pid = self._pid(name)
            if pid is not None:
                seaweed.stop_group(pid)  # started with start_new_session: the group is the service's
                stopped.append(f"{name} (pid {pid})")
            (self.run_dir / f"{name}.pid").unlink(missing_ok=True)
        return stopped

    def status(self) -> dict[str, int | None]:
        return {name: self._pid(name) for name in ("seaweedfs", *self.processes(), RUNTIME)}


def from_checkout(root: Path = PROJECT_ROOT) -> Stack:
    return Stack(envfile.read(envfile.ensure(root, os.environ.get("NIGHTSHIFT_PROFILE", "local"))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nightshift.local.stack")
    parser.add_argument("action", choices=["init", "up", "down", "status", "s3-up"])
    args = parser.parse_args(argv)
    stack = from_checkout()
    if args.action == "init":
        stack.init()
        print(f"nightshift: local settings in {PROJECT_ROOT / '.env'} (git-ignored); Airflow db ready")
    elif args.action == "s3-up":
        stack.up(airflow=False)
        print(f"SeaweedFS S3 on {stack.env['NIGHTSHIFT_S3_ENDPOINT']}")
    elif args.action == "up":
        stack.up()
        print(f"SeaweedFS S3 on {stack.env['NIGHTSHIFT_S3_ENDPOINT']}")
        print(f"Airflow UI on http://127.0.0.1:{stack.api_port}  (user admin; password in "
              f"{stack.env['AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE']})")
    elif args.action == "down":
        stopped = stack.down()
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    else:
        for name, pid in stack.status().items():
            print(f"{name:14s} {'running, pid ' + str(pid) if pid else 'stopped'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
