"""Files that hold secrets or name where secrets are used: owner-only from their first byte.

`Path.write_text` then `chmod` leaves a window in which the file exists with the umask's mode (usually
world-readable); here the file is created with mode 0600 under a temporary name and renamed into place,
so no reader ever sees it readable by others, nor half-written.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

OWNER_ONLY = 0o600


def write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, OWNER_ONLY)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
