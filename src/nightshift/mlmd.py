"""Where TFX's ML Metadata lives: a SQLite file (embedded demo) or a MySQL/MariaDB database (shared by
tasks on several workers), given as `mysql://user[:password]@host[:port]/database`."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from nightshift.errors import NightshiftError


@dataclass(frozen=True)
class MySqlTarget:
    host: str
    port: int
    database: str
    user: str
    password: str

    @property
    def redacted(self) -> str:
        """The URL without its password: safe for manifests and logs."""
        return f"mysql://{self.user}@{self.host}:{self.port}/{self.database}"


def parse_mysql_url(url: str) -> MySqlTarget:
    parts = urlsplit(url)
    database = parts.path.lstrip("/")
    if parts.scheme != "mysql" or not parts.hostname or not database:
        raise NightshiftError(f"NIGHTSHIFT_MLMD_MYSQL={url!r}: expected mysql://user[:password]@host[:port]/database")
    return MySqlTarget(host=parts.hostname, port=parts.port or 3306, database=database,
                       user=unquote(parts.username or "root"), password=unquote(parts.password or ""))
