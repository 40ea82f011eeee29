"""The multi-process profile, for real on this machine: Airflow's CeleryExecutor with PostgreSQL as the
metadata database and Redis as the broker, two Celery workers, and TFX's ML Metadata in MariaDB, shared by
tasks that ran on different workers. Selected by configuration only (envfile.celery_profile's settings).

The scheduler runs with job scheduling on, as in production: nobody triggers anything. Unpausing taxi_nightly
lets the scheduler create the run of its cron schedule's latest tick, and the model it publishes updates the
model's Asset, from which the scheduler creates the scoring run (the spec's scoring schedule is set to null
here, so the Asset is the scoring DAG's only trigger).

Its own SeaweedFS (on a port the OS hands out), Airflow home, PostgreSQL role and database, MariaDB user and
database, and Redis keys under a prefix of its own, so it neither sees nor disturbs anything else; all of them
are removed afterwards. The PostgreSQL and MariaDB users have passwords, and the test then looks for every
secret of the stack in every task log, every file under its var/ folder (the compiled IR and run configs
included) and the command line of every process the stack ran (each exec, as the kernel reports it:
tests/exec_watch.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
from exec_watch import ExecWatcher
from ports import SEAWEED_SPAN, free_port

from nightshift.control.airflow_api import AirflowClient
from nightshift.control.s3_roles import ROLES, key_vars
from nightshift.core.config import PROJECT_ROOT, load_settings
from nightshift.core.private_file import write_private
from nightshift.local import envfile
from nightshift.local.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.own_stack, pytest.mark.timeout(3600)]
S3_PORT = free_port(SEAWEED_SPAN)
API_PORT = free_port()
REDIS_DB = 0  # shared with whoever else uses the machine's Redis: the stack's keys carry a prefix of its own
DAG_ID = "taxi_nightly"
SCORE_DAG = "taxi_batch_score"
WATCHER: list[ExecWatcher] = []  # the kernel's account of every process started while the stack ran


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # http.server's name
        type(self).received.append(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _postgres(sql: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=10)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def _mariadb(sql: str) -> None:
    mysql = shutil.which("mariadb") or shutil.which("mysql")
    assert mysql, "the MariaDB client is missing"
    subprocess.run([mysql, "-h", "127.0.0.1", "-u", "root", "-e", sql], check=True, timeout=60)


def _command_lines(stack) -> dict[int, str]:
    """Every command line any process of the stack exec'd, the short-lived TFX and task processes included."""
    [watcher] = WATCHER
    roots = [pid for pid in stack.status().values() if pid]
    return {pid: " ; ".join(watcher.cmdlines[pid]) for pid in watcher.descendants(roots) if pid in watcher.cmdlines}


SERVICES = {"PostgreSQL": 5432, "Redis": 6379, "MariaDB": 3306}


def _require_services() -> None:
    """One line naming the missing service and port, instead of a traceback deep in a fixture."""
    import socket

    for name, port in SERVICES.items():
        with socket.socket() as sock:
            sock.settimeout(2)
            if sock.connect_ex(("127.0.0.1", port)) != 0:
                pytest.fail(f"{name} is not listening on 127.0.0.1:{port}; this test needs the machine's {name}",
                            pytrace=False)


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory, taxi_csv):
    import redis

    _require_services()
    suffix = uuid.uuid4().hex[:8]
    pg_db, mlmd_db, user = f"nightshift_e2e_{suffix}", f"nightshift_mlmd_{suffix}", f"nightshift_{suffix}"
    pg_password, mlmd_password = f"pg-{uuid.uuid4().hex}", f"mlmd-{uuid.uuid4().hex}"
    var = tmp_path_factory.mktemp("celery-var")
    env = envfile.render(PROJECT_ROOT, s3_port=S3_PORT, api_port=API_PORT, var_dir=var)
    env.update(envfile.celery_profile(postgres_db=pg_db, redis_db=REDIS_DB, mlmd_db=mlmd_db, pg_user=user,
                                      mysql_user=user))
    # Every broker key (queues, bindings, the workers' control channels) under this stack's prefix, so the
    # cleanup removes its own keys and nobody else's (kombu's Redis transport option).
    prefix = f"nightshift-e2e-{suffix}:"
    env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] = prefix
    # Users with passwords, as in production: the PostgreSQL one in Airflow's own URLs (Airflow's setting),
    # the MLMD one only in the environment, beside a URL without it.
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        env[key] = env[key].replace(f"//{user}@", f"//{user}:{pg_password}@")
    env["NIGHTSHIFT_MLMD_PASSWORD"] = mlmd_password
    _postgres(f"CREATE ROLE {user} LOGIN PASSWORD '{pg_password}'")
    _postgres(f"CREATE DATABASE {pg_db} OWNER {user}")
    _mariadb(f"CREATE DATABASE {mlmd_db}; CREATE USER '{user}'@'%' IDENTIFIED BY '{mlmd_password}'; "
             f"CREATE USER '{user}'@'localhost' IDENTIFIED BY '{mlmd_password}'; "
             f"GRANT ALL ON {mlmd_db}.* TO '{user}'@'%'; GRANT ALL ON {mlmd_db}.* TO '{user}'@'localhost'")
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "True"
    env["NIGHTSHIFT_MLMD_SQLITE"] = str(var / "mlmd" / "metadata.sqlite")  # must stay unused
    # The taxi spec with a 1-minute deadline: the run (several minutes) is late, and the triggerer says so.
    pipelines = var / "pipelines"
    shutil.copytree(PROJECT_ROOT / "pipelines" / "taxi", pipelines / "taxi")
    spec = pipelines / "taxi" / "pipeline.yaml"
    text = spec.read_text().replace("deadline_minutes: 120", "deadline_minutes: 1")
    assert text.count('schedule: "30 3 * * *"') == 1 and "\nforms:" not in text
    # No optimised forms: what this module proves is the executor, the databases and the triggers, and the
    # forms have tests of their own (test_taxi_forms.py); the Asset-triggered scoring then runs the SavedModel.
    text += "\nforms:\n  onnx: false\n  quantised: false\n"
    spec.write_text(text.replace('schedule: "30 3 * * *"', "schedule: null"))
    env["NIGHTSHIFT_PIPELINES_DIR"] = str(pipelines)
    webhook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    env["NIGHTSHIFT_TEST_WEBHOOK_TOKEN"] = f"hook-{uuid.uuid4().hex}"  # a token in the path, as Slack's
    env["AIRFLOW_CONN_NIGHTSHIFT_ALERTS"] = json.dumps(
        {"conn_type": "http",
         "host": f"http://127.0.0.1:{webhook.server_port}/alerts/{env['NIGHTSHIFT_TEST_WEBHOOK_TOKEN']}"})
    write_private(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]),
                  json.dumps({"admin": uuid.uuid4().hex}))
    broker = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    stack = Stack(env)
    saved = dict(os.environ)
    os.environ.update(env)
    watcher = ExecWatcher().__enter__()  # before the first process starts
    WATCHER.append(watcher)
    try:
        stack.up(timeout=300)
        from nightshift.control.landing import seed
        from nightshift.core.s3 import client_from_env

        seed(client_from_env(), taxi_csv, "s3://nightshift-raw/taxi/", "trip_start_timestamp")
        rows = taxi_csv.read_text().splitlines()[:201]  # what the Asset-triggered scoring run will score
        client_from_env().put_object(Bucket="nightshift-raw", Key="taxi-score/date=2030-01-01/part-00000.csv",
                                     Body=("\n".join(rows) + "\n").encode())
        yield stack
    finally:
        watcher.__exit__(None, None, None)
        webhook.shutdown()
        stack.down()
        os.environ.clear()
        os.environ.update(saved)
        for key in broker.scan_iter(match=f"{prefix}*", count=500):
            broker.delete(key)
        _postgres(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
        _postgres(f"DROP ROLE IF EXISTS {user}")
        _mariadb(f"DROP DATABASE IF EXISTS {mlmd_db}; DROP USER IF EXISTS '{user}'@'%'; "
                 f"DROP USER IF EXISTS '{user}'@'localhost'")


def test_stack_runs_two_celery_workers_and_a_triggerer(celery_stack):
    """`up` returned only after both workers said they are ready to take tasks (and its database exists)."""
    running = {name for name, pid in celery_stack.status().items() if pid}
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2", "seaweedfs"} <= running


def _runs(api: AirflowClient, dag_id: str, run_type: str) -> list[dict]:
    return api.request("GET", f"/dags/{dag_id}/dagRuns", "list runs", params={"run_type": run_type})["dag_runs"]


def _first_run(api: AirflowClient, dag_id: str, run_type: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runs := _runs(api, dag_id, run_type):
            return runs[0]
        time.sleep(3)
    raise AssertionError(f"the scheduler created no {run_type} run of {dag_id} within {timeout:.0f} s")


def test_the_scheduler_runs_taxi_nightly_from_its_cron_on_both_workers_with_mlmd_in_mariadb(celery_stack):
    env = celery_stack.env
    api = AirflowClient.from_env(env)
    api.wait_for_dag(DAG_ID, timeout=300)
    api.wait_for_dag(SCORE_DAG, timeout=300)
    api.unpause(SCORE_DAG)  # waits for the model's Asset: its scoring schedule is null here
    from croniter import croniter

    tick_before = croniter("0 2 * * *", datetime.now(timezone.utc)).get_prev(datetime)
    api.unpause(DAG_ID)
    scheduled = _first_run(api, DAG_ID, "scheduled", timeout=180)
    tick_after = croniter("0 2 * * *", datetime.now(timezone.utc)).get_prev(datetime)
    run_id = scheduled["dag_run_id"]
    # The cron's latest tick when the scheduler created the run ("0 2 * * *": today's 02:00 UTC, or yesterday's
    # before then); both ends of the wait are allowed, for a test that runs across 02:00.
    assert datetime.fromisoformat(scheduled["logical_date"].replace("Z", "+00:00")) in {tick_before, tick_after}, \
        scheduled
    assert scheduled["conf"] == {} and len(_runs(api, DAG_ID, "manual")) == 0
    run = api.wait_for_run(DAG_ID, run_id, timeout=3000)
    tis = api.task_instances(DAG_ID, run_id)
    assert run["state"] == "success", {t["task_id"]: (t["state"], t.get("hostname")) for t in tis}

    workers = {t["hostname"].split(".")[0] for t in tis if t.get("hostname")}
    assert workers == {"worker-1", "worker-2"}, {t["task_id"]: t.get("hostname") for t in tis}

    # One MLMD store for every worker: the run's artifacts, produced on both, are in MariaDB; no SQLite file.
    out = subprocess.run([str(load_settings(env).runtime_python), "-m", "nightshift_tfx.run_artifacts",
                          "--mlmd", env["NIGHTSHIFT_MLMD_MYSQL"], "--run-id", run_id],
                         capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **env})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lineage = json.loads(out.stdout.strip().splitlines()[-1])
    produced = {a["producer"] for a in lineage["artifacts"]}
    assert {"CsvExampleGen", "Transform", "Trainer", "Evaluator"} <= produced, produced
    assert not Path(env["NIGHTSHIFT_MLMD_SQLITE"]).exists()
    assert lineage["mlmd"] == env["NIGHTSHIFT_MLMD_MYSQL"]  # the URL without its password

    # Deadline 1 minute after queueing, run took longer: one run_late alert from the triggerer.
    late = [a for a in _Webhook.received if a.get("kind") == "run_late" and a.get("run_id") == run_id]
    assert len(late) == 1, _Webhook.received
    assert late[0]["dag_id"] == DAG_ID and late[0]["log_url"].endswith(f"/dags/{DAG_ID}/runs/{quote(run_id)}")
    assert "not finished 1 min after it was queued" in late[0]["reason"]

    from nightshift.core.registry.store import ModelRegistry
    from nightshift.core.s3 import client_from_env

    manifest = ModelRegistry(client_from_env(), "s3://nightshift-models/taxi").read_manifest(1)
    assert manifest.run_id == run_id and manifest.extra["mlmd_mysql"] == lineage["mlmd"]


def test_the_published_models_asset_triggers_the_scoring_run(celery_stack):
    from nightshift.core.s3 import client_from_env

    api = AirflowClient.from_env(celery_stack.env)
    triggered = _first_run(api, SCORE_DAG, "asset_triggered", timeout=300)
    run_id = triggered["dag_run_id"]
    run = api.wait_for_run(SCORE_DAG, run_id, timeout=900, poll=3)
    states = {t["task_id"]: t["state"] for t in api.task_instances(SCORE_DAG, run_id)}
    assert run["state"] == "success", states
    assert _runs(api, SCORE_DAG, "manual") == [] and _runs(api, SCORE_DAG, "scheduled") == []
    from nightshift.core.predictions import read_marker

    assert read_marker(client_from_env(), "s3://nightshift-models/predictions/taxi/date=2030-01-01/")["rows"] == 200


def _secrets(env: dict[str, str]) -> dict[str, str]:
    from urllib.parse import urlsplit

    admin = json.loads(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())["admin"]
    return {"S3 secret key": env["AWS_SECRET_ACCESS_KEY"], "MLMD password": env["NIGHTSHIFT_MLMD_PASSWORD"],
            "PostgreSQL password": urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).password or "",
            "admin password": admin, "Fernet key": env["AIRFLOW__CORE__FERNET_KEY"],
            "JWT secret": env["AIRFLOW__API_AUTH__JWT_SECRET"], "API secret key": env["AIRFLOW__API__SECRET_KEY"],
            "webhook token": env["NIGHTSHIFT_TEST_WEBHOOK_TOKEN"],
            **{f"S3 {role} secret": env[key_vars(role)[1]] for role in ROLES}}


def test_no_secret_in_any_task_log_file_under_var_or_command_line(celery_stack):
    env = celery_stack.env
    secrets = _secrets(env)
    assert all(len(v) >= 16 for v in secrets.values()), "every secret is configured"
    api = AirflowClient.from_env(env)
    places: dict[str, str] = {}
    runs = [(DAG_ID, r["dag_run_id"]) for r in _runs(api, DAG_ID, "scheduled")] + [
        (SCORE_DAG, r["dag_run_id"]) for r in _runs(api, SCORE_DAG, "asset_triggered")]
    assert len(runs) == 2, runs
    for dag_id, run_id in runs:
        for ti in api.task_instances(dag_id, run_id):
            for attempt in range(1, int(ti.get("try_number") or 1) + 1):
                places[f"task log {dag_id}/{run_id}/{ti['task_id']} try {attempt}"] = api.task_log(
                    dag_id, run_id, ti["task_id"], try_number=attempt)
    var = Path(env["NIGHTSHIFT_VAR_DIR"])
    allowed = {Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])}  # the admin password's home
    store = var / "seaweedfs"  # the S3 server's own data (its identity store holds its keys)
    files = [p for p in var.rglob("*") if p.is_file() and p not in allowed and store not in p.parents]
    assert any(p.name == "pipeline_ir.pb" for p in files) and any(p.name == "run_config.json" for p in files)
    for path in files:
        places[f"file {path}"] = path.read_bytes().decode("latin-1")
    command_lines = _command_lines(celery_stack)
    [watcher] = WATCHER
    unread = watcher.unread & watcher.descendants([pid for pid in celery_stack.status().values() if pid])
    assert not watcher.overflowed and not unread, (watcher.overflowed, unread)  # every exec was seen and read
    # The services, the task processes and the TFX nodes of both runs. TFX nodes run in children forked by the
    # warm runtime without an exec: the request travels over its socket, so no command line carries it.
    assert len(command_lines) >= 20, command_lines
    assert any("nightshift_tfx.warm_server" in c for c in command_lines.values()), command_lines
    for pid, cmdline in command_lines.items():
        places[f"command line of pid {pid} ({cmdline[:80]})"] = cmdline
    hits = [f"{name} in {place}" for place, text in places.items() for name, value in secrets.items()
            if value in text]
    assert hits == [], "\n".join(hits)
    for path in allowed | {var}:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is readable by others"


def test_every_server_of_the_stack_listens_on_loopback_only(celery_stack, procfs):
    roots = [pid for pid in celery_stack.status().values() if pid]
    sockets = procfs.listening(procfs.tree(roots))
    assert {port for _, _, port in sockets} >= {S3_PORT, API_PORT}, sockets
    exposed = [(pid, procfs.cmdline(pid), addr, port) for pid, addr, port in sockets
               if addr not in ("127.0.0.1", "::1")]
    assert exposed == [], exposed
