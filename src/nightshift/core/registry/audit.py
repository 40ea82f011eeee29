"""The registry's audit log: one object per pointer change under <prefix>/audit/, in time order.

S3 has no append; one immutable object per event, named so a listing is the log in order, is the
append-only equivalent that needs no lock (two writers never touch the same key).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from nightshift.core.errors import RegistryError

AUDIT_DIR = "audit"
AUDIT_FORMAT = "nightshift.audit/1"
ACTIONS = {"publish", "promote", "rollback", "prune"}


def now_utc() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    at: str  # ISO-8601 UTC
    action: str  # publish | promote | rollback | prune
    actor: str  # who or what: "pipeline run <id>", "cli:<user>", "airflow:<user> run <id>"
    from_version: int | None  # serving version before
    to_version: int | None  # serving version after (prune: the version removed)
    reason: str
    run_id: str | None = None
    change_id: str | None = None  # the pointer change it records: the same change always has the same key

    def key(self, prefix: str) -> str:
        stamp = datetime.fromisoformat(self.at).strftime("%Y%m%dT%H%M%S.%fZ")
        nonce = self.change_id or secrets.token_hex(4)
        return f"{prefix.strip('/')}/{AUDIT_DIR}/{stamp}-{self.action}-{nonce}.json"

    def to_json(self) -> bytes:
        return json.dumps({"format": AUDIT_FORMAT, **asdict(self)}, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> AuditEntry:
        try:
            doc = json.loads(data)
            if doc.pop("format", None) != AUDIT_FORMAT:
                raise RegistryError(f"{where}: not a {AUDIT_FORMAT} entry")
            return cls(**doc)
        except (ValueError, TypeError) as exc:
            raise RegistryError(f"{where}: not a valid audit entry ({exc})") from exc

    def line(self) -> str:
        change = (f"v{self.from_version} -> v{self.to_version}" if self.action != "prune"
                  else f"removed v{self.to_version}")
        return f"{self.at}  {self.action:8s} {change:14s} by {self.actor}: {self.reason}"
