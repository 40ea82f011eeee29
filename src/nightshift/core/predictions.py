"""Prediction output layout and its commit, shared by the scorer (runtime) and the gates (control).

    <partition>/part-<token>.parquet    the predictions (row_number[, key], score, predicted_label,
                                        model_version, run_id); a new name for every commit
    <partition>/_SUCCESS                the marker: rows, model version, run id and the one part file it
                                        names, with its sha256

Ownership: a partition is written only when it is empty or holds a previous nightshift commit (its marker,
the part it names, and part files an interrupted commit of ours left, proven by their commit token).
Anything else is refused, naming up to ten of the objects found, before scoring starts and again right
before committing. A registry's model prefix and a raw landing zone are refused even when empty.

Commit order, so that a crash or an S3 error at any step leaves the old commit or the new one, both
readable and verifiable: the new part under its new name, then the marker replaced in one conditional
write (it names the new part), and only then the old part removed. Readers trust exactly the file the
marker names; an orphan part of an interrupted commit is removed by the next commit.
"""

from __future__ import annotations

import json
import logging
import re
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from nightshift.core.errors import NightshiftError
from nightshift.core.output_location import PART_RE, LocalLocation, MarkerChanged, S3Location, location_for
from nightshift.core.registry.manifest import sha256_file

log = logging.getLogger(__name__)
MARKER = "_SUCCESS"
MARKER_FORMAT = "nightshift.core.predictions/1"
LEGACY_PART = "part-00000.parquet"  # the one part name of commits made before part names carried a token
_PARTIAL_RE = re.compile(r"^\.(part-[0-9a-f]{32}\.parquet|_SUCCESS)\.[0-9a-f]{8}\.partial$")  # local temporaries
_MAX_NAMED = 10

__all__ = ["MARKER", "MarkerChanged", "OutputNotOwned", "check_output_location", "commit_output",
           "committed_part", "protected_prefixes", "read_marker", "verify_committed"]


class OutputNotOwned(NightshiftError):
    """The output location holds something nightshift did not write, or is a place it never writes to."""


@dataclass
class PartitionState:
    marker: dict[str, Any] | None = None
    marker_tag: str | None = None
    committed: list[str] = field(default_factory=list)  # the part file(s) the marker names
    leftovers: list[str] = field(default_factory=list)  # ours, named by no marker (an interrupted commit)


def committed_part(marker: dict[str, Any]) -> str:
    """The part file a marker names (its path inside the partition)."""
    return str(marker["files"][0]["path"])


def _parse_marker(data: bytes, where: str) -> dict[str, Any]:
    try:
        doc = json.loads(data)
        files = doc["files"]
        ok = (isinstance(doc, dict) and doc.get("format", MARKER_FORMAT) == MARKER_FORMAT and {"rows", "model_version",
              "run_id"} <= doc.keys() and len(files) == 1 and isinstance(files[0]["sha256"], str))
        path = files[0]["path"] if ok else None
    except (ValueError, KeyError, TypeError, IndexError):
        ok, path = False, None
    if not ok or not (path == LEGACY_PART or (isinstance(path, str) and PART_RE.match(path))):
        raise OutputNotOwned(f"{where}: not a nightshift prediction marker (expected {MARKER_FORMAT} naming one "
                             "part-<token>.parquet); this location holds another tool's output")
    return doc


def _inspect(loc: S3Location | LocalLocation) -> PartitionState:
    got = loc.read(MARKER)
    state = PartitionState()
    if got is not None:
        state.marker, state.marker_tag = _parse_marker(got[0], loc.where(MARKER)), got[1]
        state.committed = [committed_part(state.marker)]
    foreign: list[str] = []
    for name in loc.names():
        if name == MARKER or name in state.committed:
            continue
        match = PART_RE.match(name)
        if _PARTIAL_RE.match(name) or (match and loc.owner_token(name) == match.group(1)):
            state.leftovers.append(name)
            continue
        foreign.append(name)
        if len(foreign) == _MAX_NAMED:
            break
    if foreign:
        raise OutputNotOwned(f"{loc}: holds objects nightshift did not write, so it is not a valid output "
                             f"(it must be empty or a previous nightshift commit); found "
                             f"{', '.join(loc.where(n) for n in foreign)}"
                             + (" and more" if len(foreign) == _MAX_NAMED else ""))
    return state


def _normalised(location: str) -> str:
    if location.startswith("s3://"):
        return location.rstrip("/") + "/"
    return str(Path(location).resolve()) + "/"


def protected_prefixes(pipelines_dir: Path, *extra: str) -> list[str]:
    """Places no prediction output may be at, in or above: every pipeline's registry prefix and raw
    landing zone (from the specs in `pipelines_dir`), plus `extra` (e.g. the model being scored)."""
    from nightshift.core.errors import SpecError
    from nightshift.core.spec_loading import discover_specs, load_spec

    found = [e for e in extra if e]
    for path in discover_specs(pipelines_dir):
        try:
            spec = load_spec(path)
        except SpecError as exc:  # its DAGs fail to import too; its prefixes are still known from the text
            log.warning("%s", exc)
            continue
        found += [spec.push.uri, spec.source.uri]
    return found


def check_output_location(client: Any, output: str, protected: list[str] | tuple[str, ...] = ()) -> PartitionState:
    """Refuse an output that overlaps a protected prefix or holds anything nightshift did not write."""
    target = _normalised(output)
    for place in protected:
        prefix = _normalised(place)
        if target.startswith(prefix) or prefix.startswith(target):
            raise OutputNotOwned(f"{output}: overlaps {place}, which holds a model registry or a raw landing "
                                 "zone; write predictions to a prefix of their own (the spec's scoring.output_uri)")
    return _inspect(location_for(client, output))


def _marker(rows: int, model_version: int, run_id: str, part: str, sha256: str, model_uri: str,
            source: str, source_fingerprint: str | None, skew: dict[str, Any] | None, engine: str | None) -> bytes:
    return json.dumps({"format": MARKER_FORMAT, "rows": rows, "model_version": model_version, "run_id": run_id,
                       "model": model_uri, "source": source, "source_fingerprint": source_fingerprint, "skew": skew,
                       "engine": engine,
                       "files": [{"path": part, "sha256": sha256}],
                       "committed_at": datetime.now(timezone.utc).isoformat(timespec="seconds")},
                      indent=2, sort_keys=True).encode()


def commit_output(client: Any, local_file: Path, output: str, *, rows: int, model_version: int, run_id: str,
                  model_uri: str, source: str, protected: list[str] | tuple[str, ...] = (),
                  source_fingerprint: str | None = None, skew: dict[str, Any] | None = None,
                  engine: str | None = None) -> str:
    """Make `local_file` the partition's committed output; returns the marker's location. The source's
    fingerprint (ETag or sha256) lets a later reader (the monitor) prove it reads the rows that were scored;
    `skew` (nightshift_tfx.skew) travels in the marker, so the report commits with the predictions it describes;
    `engine` names the form of the model version that scored."""
    loc = location_for(client, output)
    with loc.exclusive():
        state = check_output_location(client, output, protected)  # again: the location may have changed
        token = uuid.uuid4().hex
        part = f"part-{token}.parquet"
        loc.put_file(local_file, part, token)
        try:
            loc.replace_marker(MARKER, _marker(rows, model_version, run_id, part, sha256_file(local_file),
                                               model_uri, source, source_fingerprint, skew, engine),
                              state.marker_tag)
        except MarkerChanged:
            loc.delete(part)  # the write was refused, so no marker names it: the other commit stands
            raise
        # Any other error may come after the server applied the write: the part stays (an orphan of ours
        # if the marker did not switch, which the next commit removes; the committed part if it did).
        for old in state.committed + state.leftovers:  # only files a nightshift commit provably wrote
            loc.delete(old)
    return loc.where(MARKER)


def read_marker(client: Any, output: str) -> dict[str, Any] | None:
    loc = location_for(client, output)
    got = loc.read(MARKER)
    return None if got is None else _parse_marker(got[0], loc.where(MARKER))


def verify_committed(client: Any, output: str, *, expected_rows: int, run_id: str | None = None) -> dict[str, Any]:
    """Raise unless the partition is committed, the file its marker names matches the marker's sha256,
    and rows match the input."""
    import pyarrow.parquet as pq

    loc = location_for(client, output)
    marker = read_marker(client, output)
    if marker is None:
        raise NightshiftError(f"{output}: no {MARKER} marker; the output was never committed")
    part = committed_part(marker)
    problems = []
    if marker["rows"] != expected_rows:
        problems.append(f"marker says {marker['rows']} rows, the input had {expected_rows}")
    if run_id is not None and marker["run_id"] != run_id:
        problems.append(f"marker is from run {marker['run_id']!r}, expected {run_id!r}")
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / part
        loc.download(part, local)
        if sha256_file(local) != marker["files"][0]["sha256"]:
            problems.append(f"{part} does not match the sha256 in {MARKER}")
        if (found := pq.ParquetFile(str(local)).metadata.num_rows) != expected_rows:
            problems.append(f"{part} has {found} rows, expected {expected_rows}")
    if problems:
        raise NightshiftError(f"{output}: " + "; ".join(problems))
    return marker
