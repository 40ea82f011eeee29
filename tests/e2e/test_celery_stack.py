"""The multi-process profile, for real on this machine: Airflow's CeleryExecutor with PostgreSQL as the
metadata database and Redis as the broker, two Celery workers, and TFX's ML Metadata in MariaDB, shared by
tasks that ran on different workers. Selected by configuration only (envfile.celery_profile's settings).

Its own SeaweedFS, Airflow home, PostgreSQL database, Redis database and MariaDB database, so it neither
sees nor disturbs the session's embedded stack; all of them are removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from nightshift.airflow_api import AirflowClient
from nightshift.config import PROJECT_ROOT, load_settings
from nightshift.services import envfile
from nightshift.services.stack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3600)]
S3_PORT = int(os.environ.get("NIGHTSHIFT_TEST_CELERY_S3_PORT", "25333"))
API_PORT = int(os.environ.get("NIGHTSHIFT_TEST_CELERY_API_PORT", "16080"))
REDIS_DB = int(os.environ.get("NIGHTSHIFT_TEST_CELERY_REDIS_DB", "11"))
DAG_ID = "taxi_nightly"


class _Webhook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server's name
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


@pytest.fixture(scope="module")
def celery_stack(tmp_path_factory, taxi_csv):
    import redis

    suffix = uuid.uuid4().hex[:8]
    pg_db, mlmd_db = f"nightshift_e2e_{suffix}", f"nightshift_mlmd_{suffix}"
    var = tmp_path_factory.mktemp("celery-var")
    env = envfile.render(PROJECT_ROOT, s3_port=S3_PORT, api_port=API_PORT, var_dir=var)
    env.update(envfile.celery_profile(postgres_db=pg_db, redis_db=REDIS_DB, mlmd_db=mlmd_db))
    env["AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE"] = "False"
    env["NIGHTSHIFT_MLMD_SQLITE"] = str(var / "mlmd" / "metadata.sqlite")  # must stay unused
    # The taxi spec with a 1-minute deadline: the run (several minutes) is late, and the triggerer says so.
    pipelines = var / "pipelines"
    shutil.copytree(PROJECT_ROOT / "pipelines" / "taxi", pipelines / "taxi")
    spec = pipelines / "taxi" / "pipeline.yaml"
    spec.write_text(spec.read_text().replace("deadline_minutes: 120", "deadline_minutes: 1"))
    env["NIGHTSHIFT_PIPELINES_DIR"] = str(pipelines)
    webhook = ThreadingHTTPServer(("127.0.0.1", 0), _Webhook)
    threading.Thread(target=webhook.serve_forever, daemon=True).start()
    env["AIRFLOW_CONN_NIGHTSHIFT_ALERTS"] = json.dumps(
        {"conn_type": "http", "host": f"http://127.0.0.1:{webhook.server_port}/alerts"})
    pw = Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    pw.parent.mkdir(parents=True, exist_ok=True)
    pw.write_text(json.dumps({"admin": uuid.uuid4().hex}))
    broker = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    broker.flushdb()  # this test's own database number: nothing else uses it
    stack = Stack(env)
    saved = dict(os.environ)
    os.environ.update(env)
    try:
        stack.up(timeout=300)
        from nightshift.landing import seed
        from nightshift.s3 import client_from_env

        seed(client_from_env(), taxi_csv, "s3://nightshift-raw/taxi/", "trip_start_timestamp")
        yield stack
    finally:
        webhook.shutdown()
        stack.down()
        os.environ.clear()
        os.environ.update(saved)
        broker.flushdb()
        _postgres(f"DROP DATABASE IF EXISTS {pg_db} WITH (FORCE)")
        _mariadb(f"DROP DATABASE IF EXISTS {mlmd_db}")


def test_stack_runs_two_celery_workers_and_a_triggerer(celery_stack):
    """`up` returned only after both workers said they are ready to take tasks (and its database exists)."""
    running = {name for name, pid in celery_stack.status().items() if pid}
    assert {"api-server", "scheduler", "dag-processor", "triggerer", "worker-1", "worker-2", "seaweedfs"} <= running


def test_taxi_nightly_runs_on_both_workers_with_mlmd_in_mariadb(celery_stack):
    env = celery_stack.env
    api = AirflowClient.from_env(env)
    api.wait_for_dag(DAG_ID, timeout=300)
    api.unpause(DAG_ID)
    run_id = "e2e_celery"
    api.trigger(DAG_ID, conf={"train_steps": 300, "min_accuracy": 0.5}, run_id=run_id)
    run = api.wait_for_run(DAG_ID, run_id, timeout=3000)
    tis = api.task_instances(DAG_ID, run_id)
    assert run["state"] == "success", {t["task_id"]: (t["state"], t.get("hostname")) for t in tis}

    workers = {t["hostname"].split(".")[0] for t in tis if t.get("hostname")}
    assert workers == {"worker-1", "worker-2"}, {t["task_id"]: t.get("hostname") for t in tis}

    # One MLMD store for every worker: the run's artifacts, produced on both, are in MariaDB; no SQLite file.
    out = subprocess.run([str(load_settings(env).runtime_python), "-m", "nightshift_tfx.lineage",
                          "--mlmd", env["NIGHTSHIFT_MLMD_MYSQL"], "--run-id", run_id],
                         capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **env})
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    lineage = json.loads(out.stdout.strip().splitlines()[-1])
    produced = {a["producer"] for a in lineage["artifacts"]}
    assert {"CsvExampleGen", "Transform", "Trainer", "Evaluator"} <= produced, produced
    assert not Path(env["NIGHTSHIFT_MLMD_SQLITE"]).exists()
    assert lineage["mlmd"].startswith("mysql://root@127.0.0.1:3306/")

    # Deadline 1 minute after queueing, run took longer: one run_late alert from the triggerer.
    late = [a for a in _Webhook.received if a.get("kind") == "run_late" and a.get("run_id") == run_id]
    assert len(late) == 1, _Webhook.received
    assert late[0]["dag_id"] == DAG_ID and late[0]["log_url"].endswith(f"/dags/{DAG_ID}/runs/{run_id}")
    assert "not finished 1 min after it was queued" in late[0]["reason"]

    from nightshift.registry.store import ModelRegistry
    from nightshift.s3 import client_from_env

    manifest = ModelRegistry(client_from_env(), "s3://nightshift-models/taxi").read_manifest(1)
    assert manifest.run_id == run_id and manifest.extra["mlmd_mysql"] == lineage["mlmd"]
