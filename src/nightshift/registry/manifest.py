"""Manifest and pointer documents: building, hashing, parsing. Pure functions, no I/O but local files."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nightshift.errors import RegistryError
from nightshift.registry.layout import MANIFEST_FORMAT, POINTER_FORMAT


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the version folder, '/' separated
    sha256: str
    size: int


def scan_model_dir(model_dir: Path) -> list[FileEntry]:
    """Every file under a SavedModel folder with its checksum, in upload order."""
    if not (model_dir / "saved_model.pb").is_file():
        raise RegistryError(f"{model_dir} is not a SavedModel folder: saved_model.pb is missing")
    entries = [
        FileEntry(p.relative_to(model_dir).as_posix(), sha256_file(p), p.stat().st_size)
        for p in sorted(model_dir.rglob("*"))
        if p.is_file()
    ]
    return entries


@dataclass
class Manifest:
    model: str
    version: int
    run_id: str
    pipeline: str
    files: list[FileEntry]
    metrics: dict[str, Any] = field(default_factory=dict)
    data_window: dict[str, Any] = field(default_factory=dict)
    contract: dict[str, Any] = field(default_factory=dict)
    blessing: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def to_json(self) -> bytes:
        doc = {
            "format": MANIFEST_FORMAT,
            "model": self.model,
            "version": self.version,
            "created_at": self.created_at,
            "pipeline": self.pipeline,
            "run_id": self.run_id,
            "data_window": self.data_window,
            "contract": self.contract,
            "metrics": self.metrics,
            "blessing": self.blessing,
            "extra": self.extra,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
        }
        return json.dumps(doc, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> Manifest:
        try:
            doc = json.loads(data)
            if doc.get("format") != MANIFEST_FORMAT:
                raise RegistryError(f"{where}: format is {doc.get('format')!r}, expected {MANIFEST_FORMAT!r}")
            return cls(
                model=doc["model"],
                version=int(doc["version"]),
                run_id=doc["run_id"],
                pipeline=doc["pipeline"],
                files=[FileEntry(f["path"], f["sha256"], int(f["size"])) for f in doc["files"]],
                metrics=doc.get("metrics", {}),
                data_window=doc.get("data_window", {}),
                contract=doc.get("contract", {}),
                blessing=doc.get("blessing", {}),
                extra=doc.get("extra", {}),
                created_at=doc.get("created_at", ""),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"{where}: not a valid manifest ({exc!r})") from exc


@dataclass(frozen=True)
class Pointer:
    version: int
    manifest_sha256: str
    run_id: str
    updated_at: str
    action: str = "publish"  # what moved it here: publish | promote | rollback
    changed_by: str = ""
    reason: str = ""

    def to_json(self) -> bytes:
        return json.dumps(
            {
                "format": POINTER_FORMAT,
                "version": self.version,
                "manifest_sha256": self.manifest_sha256,
                "run_id": self.run_id,
                "updated_at": self.updated_at,
                "action": self.action,
                "changed_by": self.changed_by,
                "reason": self.reason,
            },
            indent=2,
            sort_keys=True,
        ).encode()

    @classmethod
    def from_json(cls, data: bytes, *, where: str) -> Pointer:
        try:
            doc = json.loads(data)
            if doc.get("format") != POINTER_FORMAT:
                raise RegistryError(f"{where}: format is {doc.get('format')!r}, expected {POINTER_FORMAT!r}")
            return cls(int(doc["version"]), doc["manifest_sha256"], doc["run_id"], doc["updated_at"],
                       doc.get("action", "publish"), doc.get("changed_by", ""), doc.get("reason", ""))
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"{where}: not a valid pointer ({exc!r})") from exc
