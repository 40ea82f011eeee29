"""Where TFX's ML Metadata lives: a SQLite file (embedded demo) or a MySQL/MariaDB database (shared by
tasks on several workers), given as `mysql://user@host[:port]/database`.

The password never travels with the URL through nightshift: run configs, the compiled IR, manifests, logs
and command lines carry the URL without it, and the process that connects reads it at that moment from
`NIGHTSHIFT_MLMD_PASSWORD_FILE` (a file readable by its owner only) or `NIGHTSHIFT_MLMD_PASSWORD`. A
password written into the URL itself (`mysql://user:pw@...`) is still understood, and is stripped from
everything nightshift writes or logs.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from nightshift.core.errors import NightshiftError

PASSWORD_ENV = "NIGHTSHIFT_MLMD_PASSWORD"
PASSWORD_FILE_ENV = "NIGHTSHIFT_MLMD_PASSWORD_FILE"


@dataclass(frozen=True)
class MySqlTarget:
    host: str
    port: int
    database: str
    user: str
    password: str

    @property
    def redacted(self) -> str:
        """The URL without its password: the only form written to run configs, manifests and logs."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def redact_url(url: str) -> str:
    """Any URL with its password (and any query) replaced, for error messages about a malformed one."""
    parts = urlsplit(url)
    if parts.password is None:
        return url.split("?")[0]
    return url.split("?")[0].replace(f":{parts.password}@", ":***@", 1)


def password_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The MLMD password: from the configured URL itself, an owner-only file, or the environment; "" if none."""
    env: Mapping[str, str] = os.environ if environ is None else environ
    configured = urlsplit(env.get("NIGHTSHIFT_MLMD_MYSQL", ""))
    if configured.password:
        return unquote(configured.password)
    if path := env.get(PASSWORD_FILE_ENV):
        file = Path(path)
        if file.stat().st_mode & 0o077:
            raise NightshiftError(f"{PASSWORD_FILE_ENV}={path}: readable by others (mode "
                                  f"{oct(file.stat().st_mode & 0o777)}); make it owner-only (chmod 600)")
        return file.read_text(encoding="utf-8").strip()
    return env.get(PASSWORD_ENV, "")


def parse_mysql_url(url: str, env: dict[str, str] | None = None) -> MySqlTarget:
    """The target, with the password from the URL or else from the environment (see the module doc)."""
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if parts.scheme != "mysql" or not parts.hostname or not database:
        raise NightshiftError(f"NIGHTSHIFT_MLMD_MYSQL={redact_url(url)!r}: expected "
                              "mysql://user@host[:port]/database")
    password = unquote(parts.password) if parts.password else password_from_env(env)
    return MySqlTarget(host=parts.hostname, port=parts.port or 3306, database=database,
                       user=unquote(parts.username or "root"), password=password)
