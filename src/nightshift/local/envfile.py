"""The git-ignored `.env` of a checkout: local credentials and Airflow settings, generated once.

Secrets are random per checkout and never printed; re-running keeps the existing file, so
bootstrapping twice changes nothing.
"""

from __future__ import annotations

import base64
import json
import secrets
from pathlib import Path

from nightshift.control.s3_roles import PUSHER_SEED_VAR, ROLES, key_vars
from nightshift.core.private_file import write_private

_DB_ARGS = "nightshift.control.airflow_db"  # connection arguments Airflow imports by dotted path


def render(root: Path, *, s3_port: int = 8333, api_port: int = 8080, var_dir: Path | None = None,
           access_key: str | None = None, secret_key: str | None = None) -> dict[str, str]:
    var = var_dir or root / "var"
    access_key = access_key or "nightshift" + secrets.token_hex(4)
    secret_key = secret_key or secrets.token_urlsafe(24)
    endpoint = f"http://127.0.0.1:{s3_port}"
    roles = {role: ("nightshift-" + role + "-" + secrets.token_hex(3), secrets.token_urlsafe(24)) for role in ROLES}

    def connection(role: str) -> str:
        login, password = roles[role]
        return json.dumps({"conn_type": "aws", "login": login, "password": password,
                           "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}, separators=(",", ":"))

    role_keys = {name: value for role, creds in roles.items() for name, value in zip(key_vars(role), creds,
                                                                                      strict=True)}
    airflow_home = var / "airflow"
    return {
        "NIGHTSHIFT_HOME": str(root),
        "NIGHTSHIFT_VAR_DIR": str(var),
        "NIGHTSHIFT_S3_PORT": str(s3_port),
        "NIGHTSHIFT_S3_ENDPOINT": endpoint,
        # The admin identity: creates buckets (`make up`, tests); never given to Airflow's processes.
        "AWS_ACCESS_KEY_ID": access_key,
        "AWS_SECRET_ACCESS_KEY": secret_key,
        "AWS_DEFAULT_REGION": "us-east-1",
        **role_keys,
        # Each pipeline's pusher key is derived from it (s3_roles.pusher_credentials); Airflow's workers hold it.
        PUSHER_SEED_VAR: secrets.token_urlsafe(32),
        "AIRFLOW_HOME": str(airflow_home),
        # The nightly and rollback DAGs publish; the scoring DAG scores (nightshift.control.s3_roles).
        "AIRFLOW_CONN_NIGHTSHIFT_S3": connection("publisher"),
        "AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING": connection("scorer"),
        "AIRFLOW_CONN_NIGHTSHIFT_S3_READER": connection("reader"),  # the compile step reads the champion
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(root / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__FERNET_KEY": fernet_key(),  # connections and variables stored encrypted
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{_DB_ARGS}.SQLITE_CONNECT_ARGS",  # busy timeout
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{_DB_ARGS}.SQLITE_CONNECT_ARGS",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(api_port),
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(24),
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
        # Login required (UI and REST API); `viewer` reads everything but cannot trigger, roll back or edit.
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(airflow_home / "passwords.json"),
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "False",
        "GX_ANALYTICS_ENABLED": "False",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def fernet_key() -> str:
    """A new key in Fernet's format (url-safe base64 of 32 random bytes), what Fernet.generate_key() makes."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


CELERY_WORKERS = 2


def celery_profile(*, postgres_db: str, redis_db: int, mlmd_db: str, pg_host: str = "127.0.0.1",
                   pg_user: str = "postgres", redis_host: str = "127.0.0.1", mysql_host: str = "127.0.0.1",
                   mysql_user: str = "root", workers: int = CELERY_WORKERS) -> dict[str, str]:
    """The multi-process profile, layered over `render`: Airflow's CeleryExecutor with PostgreSQL as the
    metadata database and Redis as the broker, `workers` Celery workers, and TFX's MLMD in MySQL/MariaDB
    (shared by tasks on every worker). Defaults are this machine's services (trust auth, root without a
    password); production passes its own hosts and users through the same keys."""
    pg = f"{pg_user}@{pg_host}:5432/{postgres_db}"
    return {
        "NIGHTSHIFT_PROFILE": "celery",
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{pg}",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS": f"{_DB_ARGS}.POSTGRES_CONNECT_ARGS",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS_ASYNC": f"{_DB_ARGS}.POSTGRES_ASYNC_CONNECT_ARGS",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{redis_host}:6379/{redis_db}",
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{pg}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "NIGHTSHIFT_CELERY_WORKERS": str(workers),
        "NIGHTSHIFT_MLMD_MYSQL": f"mysql://{mysql_user}@{mysql_host}:3306/{mlmd_db}",
        # Each worker records its own name on the task instances it runs (see services/hostnames.py).
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": "nightshift.local.hostnames.worker_hostname",
    }


def write(path: Path, values: dict[str, str]) -> None:
    lines = ["# Generated by nightshift's bootstrap. Local secrets: never commit this file."]
    lines += [f"{k}={_quote(v)}" for k, v in values.items()]
    write_private(path, "\n".join(lines) + "\n")


def read(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        values[key.strip()] = _unquote(value.strip())
    return values


def _quote(value: str) -> str:
    return "'" + value.replace("'", "'\\''") + "'"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("'\\''", "'")
    return value


def ensure(root: Path, profile: str = "local") -> Path:
    """Create `<root>/.env` unless it exists, plus the Airflow password file it names.

    profile "local": SQLite + LocalExecutor + MLMD in SQLite (the embedded demo); "celery": see celery_profile."""
    path = root / ".env"
    if not path.exists():
        values = render(root)
        if profile == "celery":
            values.update(celery_profile(postgres_db="nightshift_airflow", redis_db=0, mlmd_db="nightshift_mlmd"))
        elif profile != "local":
            raise ValueError(f"unknown profile {profile!r}; expected 'local' or 'celery'")
        write(path, values)
    values = read(path)
    if not values.get("AIRFLOW__CORE__FERNET_KEY"):  # written by an earlier version: connections were plain text
        values["AIRFLOW__CORE__FERNET_KEY"] = fernet_key()
        write(path, values)
    if not all(name in values for role in ROLES for name in key_vars(role)):  # before S3 identities existed
        fresh = render(root, s3_port=int(values.get("NIGHTSHIFT_S3_PORT", "8333")))
        upgraded = {name for role in ROLES for name in key_vars(role)} | {
            "AIRFLOW_CONN_NIGHTSHIFT_S3", "AIRFLOW_CONN_NIGHTSHIFT_S3_SCORING", "AIRFLOW_CONN_NIGHTSHIFT_S3_READER"}
        values.update({k: fresh[k] for k in upgraded})
        write(path, values)  # a running S3 server learns the identities at its next start (make down; make up)
    if "AIRFLOW_CONN_NIGHTSHIFT_S3_READER" not in values:  # before the compile step read with the reader's key
        reader = dict(zip(("login", "password"), (values[name] for name in key_vars("reader")), strict=True))
        values["AIRFLOW_CONN_NIGHTSHIFT_S3_READER"] = json.dumps(
            {"conn_type": "aws", **reader, "extra": {"endpoint_url": values["NIGHTSHIFT_S3_ENDPOINT"],
                                                      "region_name": "us-east-1"}}, separators=(",", ":"))
        write(path, values)
    if not values.get(PUSHER_SEED_VAR):  # before each pipeline's pusher had its own key
        values[PUSHER_SEED_VAR] = secrets.token_urlsafe(32)
        write(path, values)
    pw_file = Path(values["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"])
    if not pw_file.exists():
        write_private(pw_file, json.dumps({"admin": secrets.token_urlsafe(12), "viewer": secrets.token_urlsafe(12)}))
    return path
