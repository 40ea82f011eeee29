"""Manifest and pointer documents: building, hashing, parsing. Pure functions, no I/O but local files."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any

from nightshift.core.errors import RegistryError
from nightshift.core.registry.layout import MANIFEST_FORMAT, POINTER_FORMAT


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_stream(chunks: Iterable[bytes], sink: Any = None) -> str:
    """Hash a stream of chunks, writing each to `sink` (a binary file) if given: one pass, bounded memory,
    so a variables file of several GB is checked while it is downloaded, never held whole."""
    digest = hashlib.sha256()
    for block in chunks:
        digest.update(block)
        if sink is not None:
            sink.write(block)
    return digest.hexdigest()


def safe_relative_path(path: Any, *, where: str) -> str:
    """A manifest or marker entry as a path inside its folder, or RegistryError naming the entry.

    Entries are data from object storage, not trust: an absolute path, a `..` step, a backslash or an
    empty step could make a reader write outside the folder it downloads into."""
    text = path if isinstance(path, str) else ""
    parts = PurePosixPath(text).parts
    if (not text or text.startswith("/") or "\\" in text or "\x00" in text or ".." in parts
            or any(p in ("", ".") for p in text.split("/"))):
        raise RegistryError(f"{where}: entry {path!r} is not a relative path inside the version folder "
                            "(absolute, '..', '.', empty or backslash steps are refused)")
    return text


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


def verify_folder(folder: Path, files: list[FileEntry]) -> list[str]:
    """One line per difference between a local folder and the manifest's files: missing, altered, extra."""
    problems = []
    for entry in files:
        path = folder / entry.path
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif path.stat().st_size != entry.size or sha256_file(path) != entry.sha256:
            problems.append(f"{path}: does not match the manifest's sha256 {entry.sha256[:12]}…")
    listed = {entry.path for entry in files}
    problems += [f"{p}: not in the manifest" for p in sorted(folder.rglob("*"))
                 if p.is_file() and p.relative_to(folder).as_posix() not in listed]
    return problems


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
                files=[FileEntry(safe_relative_path(f["path"], where=where), f["sha256"], int(f["size"]))
                       for f in doc["files"]],
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
    # The change that wrote this pointer: its audit entry's key is derived from it, so a process that dies
    # right after the swap leaves enough here for the next writer to record the entry (see store.py).
    change_id: str = ""
    previous_version: int | None = None

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
                "change_id": self.change_id,
                "previous_version": self.previous_version,
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
            previous = doc.get("previous_version")
            return cls(int(doc["version"]), doc["manifest_sha256"], doc["run_id"], doc["updated_at"],
                       doc.get("action", "publish"), doc.get("changed_by", ""), doc.get("reason", ""),
                       doc.get("change_id", ""), None if previous is None else int(previous))
        except (ValueError, KeyError, TypeError) as exc:
            raise RegistryError(f"{where}: not a valid pointer ({exc!r})") from exc
