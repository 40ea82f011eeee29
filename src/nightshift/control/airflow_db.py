"""Connection arguments for Airflow's own metadata engine, named by the env file's
`AIRFLOW__DATABASE__SQL_ALCHEMY_CONNECT_ARGS[_ASYNC]` (Airflow imports them by dotted path).

SQLite is one file shared by the API server, scheduler, DAG processor and every task process. With
pysqlite's default 5 s busy timeout, a trigger from the UI could fail with "database is locked" (HTTP 500)
while the scheduler held a write; a CI run saw exactly that. Sixty seconds makes a writer wait its turn.
WAL journaling (`enable_wal`) lets readers proceed while one process writes.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

SQLITE_CONNECT_ARGS: dict[str, float] = {"timeout": 60.0}
# PostgreSQL queues concurrent writers itself; only bound how long a connection attempt may hang.
POSTGRES_CONNECT_ARGS: dict[str, int] = {"connect_timeout": 10}
POSTGRES_ASYNC_CONNECT_ARGS: dict[str, int] = {"timeout": 10}


def sqlite_path(sql_alchemy_conn: str) -> Path | None:
    """The database file of a `sqlite:////abs/path` URL, or None for any other database."""
    if not sql_alchemy_conn.startswith("sqlite"):
        return None
    path = sql_alchemy_conn.split("://", 1)[1][1:].split("?", 1)[0]  # sqlite:///<path>, absolute for Airflow
    return Path(path) if path else None


def enable_wal(db_file: Path) -> str:
    """Switch the SQLite file to write-ahead logging (persistent in the file; idempotent)."""
    with sqlite3.connect(db_file, timeout=60.0) as conn:
        return str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0])
