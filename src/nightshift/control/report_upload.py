"""Reports in object storage: a local folder mirrored under an s3:// prefix."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from nightshift.core.s3 import S3Uri, ensure_bucket


def upload_folder(client: Any, folder: Path, uri: str) -> str:
    """Upload every file of `folder` under `uri`; returns the prefix URI (no trailing slash)."""
    target = S3Uri.parse(uri.rstrip("/"))
    ensure_bucket(client, target.bucket)
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = f"{target.key}/{path.relative_to(folder).as_posix()}"
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        client.upload_file(str(path), target.bucket, key, ExtraArgs={"ContentType": content_type})
    return str(target)
