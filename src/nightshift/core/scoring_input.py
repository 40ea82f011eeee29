"""Which object a scoring run reads, and which output partition it writes; the input pinned between the
gate that checked it and the scorer that scores it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

from nightshift.core.errors import NightshiftError
from nightshift.core.registry.manifest import sha256_stream
from nightshift.core.s3 import CHUNK, S3Uri, list_keys, precondition_failed
from nightshift.core.windows import partition_date


class InputChanged(NightshiftError):
    """The input is not the object the input gate checked (replaced or edited in between)."""


class InputNotAllowed(NightshiftError):
    """The form named an input outside the places scoring may read (see `allowed_inputs`)."""


PREFIXES_ENV = "NIGHTSHIFT_SCORING_INPUT_PREFIXES"  # comma-separated s3:// prefixes scoring may read
ROOTS_ENV = "NIGHTSHIFT_SCORING_INPUT_ROOTS"  # os.pathsep-separated local folders scoring may read


PARQUET_MAGIC = b"PAR1"


def is_parquet(path: Path) -> bool:
    """A Parquet file by its first bytes (a `.csv` name may hold Parquet and the other way round)."""
    if not path.is_file():
        return path.suffix == ".parquet"
    with path.open("rb") as fh:
        return fh.read(len(PARQUET_MAGIC)) == PARQUET_MAGIC


def allowed_inputs(settings: Any, env: dict[str, str] | None = None) -> tuple[list[str], list[Path]]:
    """Where a scoring run may read: the form's `input_uri` is anyone-with-trigger-rights' choice, and the
    worker can read much more than data (its configuration, other teams' files).

    S3: $NIGHTSHIFT_SCORING_INPUT_PREFIXES, default the buckets the pipeline specs land raw and scoring data
    in. Local: $NIGHTSHIFT_SCORING_INPUT_ROOTS, default `<var>/inputs` and the system's temporary folder."""
    import tempfile

    env = dict(os.environ if env is None else env)
    if env.get(PREFIXES_ENV):
        prefixes = [p.strip() for p in env[PREFIXES_ENV].split(",") if p.strip()]
    else:
        from nightshift.core.spec_loading import discover_specs, load_spec

        buckets = set()
        for path in discover_specs(settings.pipelines_dir):
            try:
                spec = load_spec(path)
            except NightshiftError:
                continue
            buckets |= {S3Uri.parse(spec.source.uri).bucket, S3Uri.parse(spec.scoring.input_uri).bucket}
        prefixes = [f"s3://{b}/" for b in sorted(buckets)]
    if env.get(ROOTS_ENV):
        roots = [Path(r).resolve() for r in env[ROOTS_ENV].split(os.pathsep) if r]
    else:
        roots = [(settings.var_dir / "inputs").resolve(), Path(tempfile.gettempdir()).resolve()]
    return prefixes, roots


def check_input_allowed(input_uri: str, prefixes: list[str], roots: list[Path]) -> None:
    """Refuse, before any read, an input outside the allowed places; the message names the setting."""
    if input_uri.startswith("s3://"):
        if not any(input_uri.startswith(p if p.endswith("/") else p + "/") or input_uri == p for p in prefixes):
            raise InputNotAllowed(f"{input_uri}: scoring reads only under {', '.join(prefixes) or '(nothing)'} "
                                  f"(setting {PREFIXES_ENV})")
        return
    if "://" in input_uri:
        raise InputNotAllowed(f"{input_uri}: only s3:// URIs and local paths are scoring inputs")
    path = Path(input_uri).resolve()  # symlinks followed: a link inside a root to a file outside is refused
    if not any(path.is_relative_to(root) for root in roots):
        raise InputNotAllowed(f"{input_uri}: scoring reads local files only under "
                              f"{', '.join(str(r) for r in roots)} (setting {ROOTS_ENV})")


def fetch_input(client: Any, source: str, dest_dir: Path, *, expect: str | None = None,
                roots: list[Path] | None = None) -> tuple[Path, str]:
    """A private local copy of the input and its fingerprint (S3: the ETag; local: "sha256:<hex>").

    The gate records the fingerprint of what it validated; the scorer passes it as `expect`, and a
    different object raises InputChanged naming it. The copy is streamed (bounded memory) and the scorer
    reads the copy, so the file cannot change under it either.

    With `roots`, a local file is checked again after it is opened, on what was opened (its path in
    /proc/self/fd): a symlink swapped after `check_input_allowed` cannot make this read a file outside them."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    if not source.startswith("s3://"):
        path = Path(source)
        try:
            # O_NONBLOCK: a FIFO planted where a file was expected must not hang the task in open()
            src_fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NightshiftError(f"{source}: no such input file") from exc
        src = os.fdopen(src_fd, "rb")
        try:
            _check_opened(src_fd, source, roots)
        except BaseException:
            src.close()
            raise
        dest = dest_dir / f"{uuid.uuid4().hex[:8]}-{path.name}"
        with src, dest.open("wb") as sink:
            fingerprint = "sha256:" + sha256_stream(iter(lambda: src.read(CHUNK), b""), sink)
        if expect is not None and fingerprint != expect:
            dest.unlink()
            raise InputChanged(f"{source}: changed since the input gate checked it ({expect[:19]}… expected, "
                               f"found {fingerprint[:19]}…); score the new file in a run of its own")
        return dest, fingerprint
    uri = S3Uri.parse(source)
    keys = [k for k in list_keys(client, uri.bucket, uri.key) if not k.endswith("/")]
    if not keys:
        raise NightshiftError(f"{source}: no object at or under this URI")
    if len(keys) > 1:
        raise NightshiftError(f"{source}: {len(keys)} objects under this prefix; name one file to score")
    try:
        response = client.get_object(Bucket=uri.bucket, Key=keys[0], **({"IfMatch": expect} if expect else {}))
    except Exception as exc:  # botocore's ClientError; 412 means the object is not the one the gate checked
        if precondition_failed(exc):
            raise InputChanged(f"s3://{uri.bucket}/{keys[0]}: changed since the input gate checked it (ETag "
                               f"{expect} expected); score the new object in a run of its own") from exc
        raise
    dest = dest_dir / Path(keys[0]).name
    partial = dest.with_name(f".{dest.name}.{uuid.uuid4().hex[:8]}.partial")
    with partial.open("wb") as sink:
        for block in response["Body"].iter_chunks(CHUNK):
            sink.write(block)
    os.replace(partial, dest)
    return dest, response["ETag"]


def _check_opened(fd: int, source: str, roots: list[Path] | None) -> None:
    import stat

    if not stat.S_ISREG(os.fstat(fd).st_mode):
        raise NightshiftError(f"{source}: no such input file (not a regular file)")
    if roots is None:
        return
    opened = Path(os.readlink(f"/proc/self/fd/{fd}"))  # the file itself, whatever links led to it
    if not any(opened.is_relative_to(root) for root in roots):
        raise InputNotAllowed(f"{source}: scoring reads local files only under "
                              f"{', '.join(str(r) for r in roots)} (setting {ROOTS_ENV})")


def resolve_input(client: Any, input_uri: str, output_uri: str, *, fallback_partition: str) -> dict[str, str]:
    """A file is scored as is; a prefix means its newest date=YYYY-MM-DD partition (its one file).
    The output partition is the input's date= partition, else the run's date."""
    chosen = input_uri
    if input_uri.startswith("s3://"):
        uri = S3Uri.parse(input_uri)
        keys = [k for k in list_keys(client, uri.bucket, uri.key) if not k.endswith("/")]
        if not keys:
            raise NightshiftError(f"{input_uri}: nothing to score (no object at or under this URI)")
        if not (len(keys) == 1 and keys[0] == uri.key):
            dates = {k: d for k in keys if (d := partition_date(k)) is not None}
            dated = list(dates)
            if not dated:
                raise NightshiftError(f"{input_uri}: {len(keys)} objects but no date=YYYY-MM-DD/ partition; "
                                      "name the file to score")
            newest = max(dates.values())
            in_newest = sorted(k for k in dated if partition_date(k) == newest)
            if len(in_newest) != 1:
                raise NightshiftError(f"{input_uri}: partition date={newest} holds {len(in_newest)} files; "
                                      "expected one")
            chosen = f"s3://{uri.bucket}/{in_newest[0]}"
    elif not Path(input_uri).is_file():
        raise NightshiftError(f"{input_uri}: no such input file")
    day = partition_date(chosen)
    partition = f"date={day.isoformat() if day else fallback_partition}"
    return {"input": chosen, "output": f"{output_uri.rstrip('/')}/{partition}/", "partition": partition}
