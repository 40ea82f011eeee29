"""What the Pusher did, in one file beside its output artifact and one line a person reads first: the TFX side
writes and logs it, the Airflow side ends the task's log with it (and skips with it as the reason)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PUSH_RESULT_FILE = "nightshift_push.json"


def verdict_line(result: dict[str, Any]) -> str:
    """`published version N ...` or `not published: <each check that failed, with its numbers>`."""
    if result.get("pushed"):
        metrics = ", ".join(f"{name} {value:.4g}" if isinstance(value, float) else f"{name} {value}"
                            for name, value in sorted((result.get("metrics") or {}).items()))
        return (f"VERDICT: published version {result.get('version')} to {result.get('destination')}"
                + (f" ({metrics})" if metrics else ""))
    return "VERDICT: not published: " + ("; ".join(result.get("reasons") or []) or "no reason recorded")


def latest_result(run_dir: Path) -> dict[str, Any] | None:
    """The newest Pusher result under a run's folder (a retried run has one per attempt), or None."""
    found = sorted(run_dir.glob(f"**/Pusher/pushed_model/*/{PUSH_RESULT_FILE}"), key=lambda p: p.stat().st_mtime)
    return json.loads(found[-1].read_text()) if found else None
