"""Airflow's own engine picks up the env file's connection arguments: the embedded SQLite waits its turn
(60 s busy timeout, WAL journal) instead of answering a trigger with "database is locked"."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from nightshift.control import airflow_db
from nightshift.core.config import PROJECT_ROOT
from nightshift.local import envfile

pytestmark = pytest.mark.integration

_PROBE = """
import json
from airflow import settings
settings.configure_orm()
print(json.dumps({"sync": settings._get_connect_args("sync"), "async": settings._get_connect_args("async"),
                  "driver": settings.engine.dialect.driver}))
"""


def _airflow_sees(env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", _PROBE], env={**os.environ, **env}, capture_output=True,
                         text=True, timeout=120, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_local_profile_gives_sqlite_a_busy_timeout(tmp_path):
    env = envfile.render(PROJECT_ROOT, var_dir=tmp_path)
    seen = _airflow_sees(env)
    assert seen["sync"]["timeout"] == 60.0 and seen["async"]["timeout"] == 60.0
    assert seen["driver"] == "pysqlite"


def test_the_celery_profile_bounds_postgres_connection_attempts(tmp_path):
    env = envfile.render(PROJECT_ROOT, var_dir=tmp_path)
    env.update(envfile.celery_profile(postgres_db="nightshift_probe", redis_db=15, mlmd_db="nightshift_probe"))
    seen = _airflow_sees(env)
    assert seen["sync"] == {"connect_timeout": 10} and seen["async"] == {"timeout": 10}
    assert seen["driver"] == "psycopg2"


def test_enable_wal_switches_the_journal_and_is_idempotent(tmp_path):
    db = tmp_path / "airflow.db"
    sqlite3.connect(db).close()
    assert airflow_db.enable_wal(db) == "wal"
    assert airflow_db.enable_wal(db) == "wal"
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:////var/lib/airflow/airflow.db", "/var/lib/airflow/airflow.db"),
    ("sqlite:////tmp/a.db?mode=rwc", "/tmp/a.db"),
    ("sqlite://", None),
    ("postgresql+psycopg2://u@h:5432/db", None),
])
def test_sqlite_path(url, expected):
    got = airflow_db.sqlite_path(url)
    assert (str(got) if got else None) == expected
