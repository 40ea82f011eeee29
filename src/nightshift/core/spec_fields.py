"""The keys a pipeline spec may have, and the checks of single values, each error naming the file and the key.
`nightshift.core.spec_loading` reads a whole file with them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nightshift.core.errors import SpecError
from nightshift.core.spec import SCHEDULE_PRESETS

ALLOWED = {
    "": {"name", "description", "source", "window", "contract", "module_file", "training",
         "evaluation", "push", "airflow", "reports_uri", "drift", "scoring", "alerts", "beam_pipeline_args",
         "execution", "monitoring", "forms"},
    "forms": {"onnx", "quantised", "max_abs_diff", "quantised_max_abs_diff", "quantised_max_accuracy_drop",
              "held_out_rows"},
    "monitoring": {"labels_uri", "label_column", "label_rule", "min_realized", "min_labelled_rows", "skew_runs",
                   "schedule", "retrain"},
    "execution": {"backend", "image", "namespace", "cpu", "memory", "volume_claim", "kubernetes_conn_id"},
    "alerts": {"webhook_conn", "deadline_minutes", "email", "email_conn"},
    "scoring": {"input_uri", "output_uri", "label_column", "schedule", "key_column", "chunk_rows", "engine"},
    "drift": {"categorical_linf", "numeric_js", "features"},
    "source": {"dataset", "uri", "timestamp_column"},
    "window": {"mode", "days"},
    "training": {"train_steps", "eval_steps"},
    "evaluation": {"label_key", "thresholds", "champion_tolerance", "gate_metric", "slices", "baseline_margin"},
    "push": {"uri", "model_name"},
    "airflow": {"schedule", "owner", "retries", "retry_delay_minutes", "task_timeout_minutes", "tags",
                "start_date"},
}
REQUIRED = {
    "": {"name", "source", "contract", "module_file", "evaluation", "push"},
    "source": {"dataset", "uri"},
    "evaluation": {"label_key", "thresholds"},
    "push": {"uri", "model_name"},
}


def section(doc: dict[str, Any], key: str, path: Path) -> dict[str, Any]:
    value = doc.get(key, {}) if key else doc
    if not isinstance(value, dict):
        raise SpecError(f"{path}: '{key}' must be a mapping, got {type(value).__name__}")
    where = f"{key}." if key else ""
    unknown = set(value) - ALLOWED[key]
    if unknown:
        raise SpecError(
            f"{path}: unknown key(s) {', '.join(where + k for k in sorted(unknown))}; "
            f"allowed: {', '.join(sorted(ALLOWED[key]))}"
        )
    missing = REQUIRED.get(key, set()) - set(value)
    if missing:
        raise SpecError(f"{path}: missing required key(s) {', '.join(where + k for k in sorted(missing))}")
    return value


def positive_int(value: Any, key: str, path: Path, *, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        bound = ">= 0" if allow_zero else ">= 1"
        raise SpecError(f"{path}: {key} must be an integer {bound}, got {value!r}")
    return value


def beam_args(value: Any, path: Path) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.startswith("--") for v in value):
        raise SpecError(f"{path}: beam_pipeline_args must be a list of Beam flags such as "
                        f"'--runner=DataflowRunner', got {value!r}")
    return tuple(value)


def addresses(value: Any, key: str, path: Path) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)) or not all(
            isinstance(a, str) and a.count("@") == 1 and " " not in a for a in items):
        raise SpecError(f"{path}: {key} must be an e-mail address or a list of them, such as "
                        f"['oncall@example.org'], got {value!r}")
    return tuple(items)


def number(value: Any, key: str, path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise SpecError(f"{path}: {key} must be a number >= 0, got {value!r}")
    return float(value)


def iso_date(value: Any, key: str, path: Path) -> str:
    from datetime import date, datetime

    if isinstance(value, (date, datetime)):  # YAML parses an unquoted 2024-01-01 into a date
        return value.isoformat()
    try:
        datetime.fromisoformat(str(value))
    except ValueError:
        raise SpecError(f"{path}: {key} must be an ISO date such as 2024-01-01, got {value!r}") from None
    return str(value)


def schedule(value: Any, key: str, path: Path, *, allow_none: bool = True) -> str | None:
    """A cron expression or an Airflow preset, checked with croniter (the parser Airflow's cron timetables use).

    croniter lives only in the Airflow interpreter; the TFX side reads specs the DAG processor already checked."""
    if value is None and allow_none:
        return None
    if not isinstance(value, str) or not value.strip():
        raise SpecError(f"{path}: {key} must be a cron expression such as '0 2 * * *' or a preset such as "
                        f"'@daily', got {value!r}")
    value = value.strip()
    if value.startswith("@"):
        if value not in SCHEDULE_PRESETS:
            raise SpecError(f"{path}: {key} {value!r} is not an Airflow preset; "
                            f"known: {', '.join(sorted(SCHEDULE_PRESETS))}")
        return value
    try:
        from croniter import croniter
    except ImportError:  # the TFX interpreter
        return value
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise SpecError(f"{path}: {key} {value!r} does not parse as a 5-field cron expression "
                        "(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'")
    return value


def resolve_file(base: Path, value: str, key: str, path: Path) -> Path:
    resolved = (base / value).resolve()
    if not resolved.is_file():
        raise SpecError(f"{path}: {key} points to {resolved}, which does not exist")
    return resolved
