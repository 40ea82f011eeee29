"""Reading a pipeline spec file (`pipelines/<name>/pipeline.yaml`) into a PipelineSpec: every key checked, every
error naming the file and the key, defaults filled in. The spec's shape is in nightshift.core.spec."""

from __future__ import annotations

from pathlib import Path

import yaml

from nightshift.core.errors import SpecError
from nightshift.core.metrics import BINARY, METRICS
from nightshift.core.registry.forms import AUTO
from nightshift.core.spec import (
    DEFAULT_BASELINE_MARGIN,
    DEFAULT_BEAM_ARGS,
    DEFAULT_BINARY_AUC,
    EXECUTION_BACKENDS,
    KNOWN_METRICS,
    SCORING_ENGINES,
    WINDOW_MODES,
    AirflowSpec,
    AlertSpec,
    DriftSpec,
    EvaluationSpec,
    ExecutionSpec,
    FormsSpec,
    MonitoringSpec,
    PipelineSpec,
    PushSpec,
    ScoringSpec,
    SourceSpec,
    TrainingSpec,
    WindowSpec,
)
from nightshift.core.spec_fields import (
    addresses,
    beam_args,
    iso_date,
    number,
    positive_int,
    resolve_file,
    schedule,
    section,
)


def load_spec(path: str | Path, project_root: Path | None = None) -> PipelineSpec:
    """Load and validate one spec. Relative file paths are resolved against the project root."""
    path = Path(path).resolve()
    if project_root is None:
        from nightshift.core.config import load_settings

        project_root = load_settings().project_root
    root = project_root
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SpecError(f"{path}: cannot read spec: {exc}") from exc
    if not isinstance(doc, dict):
        raise SpecError(f"{path}: a spec must be a YAML mapping")
    top = section(doc, "", path)
    src = section(doc, "source", path)
    win = section(doc, "window", path)
    trn = section(doc, "training", path)
    ev = section(doc, "evaluation", path)
    push = section(doc, "push", path)
    af = section(doc, "airflow", path)
    dr = section(doc, "drift", path)
    sc = section(doc, "scoring", path)
    al = section(doc, "alerts", path)
    ex = section(doc, "execution", path)
    mon = section(doc, "monitoring", path)
    fm = section(doc, "forms", path)
    engine = sc.get("engine", AUTO)
    if engine not in SCORING_ENGINES:
        raise SpecError(f"{path}: scoring.engine must be one of {list(SCORING_ENGINES)}, got {sc.get('engine')!r}")
    for key in ("onnx", "quantised"):
        if not isinstance(fm.get(key, True), bool):
            raise SpecError(f"{path}: forms.{key} must be true or false, got {fm.get(key)!r}")
    off = [k for k, needed in (("onnx", engine not in ("savedmodel", AUTO)),
                               ("quantised", engine in ("onnx_fp16", "onnx_int8"))) if needed and fm.get(k) is False]
    if off:
        raise SpecError(f"{path}: scoring.engine is {engine} but forms.{off[0]} is false: that form would never be "
                        "published")
    if ex.get("backend", "subprocess") not in EXECUTION_BACKENDS:
        raise SpecError(f"{path}: execution.backend must be one of {sorted(EXECUTION_BACKENDS)}, "
                        f"got {ex.get('backend')!r}")
    models_bucket = str(push["uri"])[5:].split("/")[0]
    drift_bounds = {}
    for key in ("categorical_linf", "numeric_js"):
        value = dr.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
            raise SpecError(f"{path}: drift.{key} must be within [0, 1], got {value!r}")
        drift_bounds[key] = float(value)
    drift_features = dr.get("features", {}) or {}
    if not isinstance(drift_features, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v <= 1 for v in drift_features.values()):
        raise SpecError(f"{path}: drift.features must map feature names to bounds within [0, 1]")

    name = str(top["name"])
    if not name.isidentifier():
        raise SpecError(f"{path}: name must be a Python identifier (it becomes DAG ids), got {name!r}")
    for key, uri in (("source.uri", src["uri"]), ("push.uri", push["uri"])):
        if not str(uri).startswith("s3://"):
            raise SpecError(f"{path}: {key} must be an s3:// URI, got {uri!r}")

    mode = win.get("mode", "all_until_end")
    if mode not in WINDOW_MODES:
        raise SpecError(f"{path}: window.mode must be one of {sorted(WINDOW_MODES)}, got {mode!r}")
    days = positive_int(win.get("days", 0), "window.days", path, allow_zero=True)
    if mode == "trailing_days" and days == 0:
        raise SpecError(f"{path}: window.days must be >= 1 when window.mode is trailing_days")

    thresholds = ev["thresholds"]
    if not isinstance(thresholds, dict) or not thresholds:
        raise SpecError(f"{path}: evaluation.thresholds must map metric names to lower bounds")
    for metric, bound in thresholds.items():
        if metric not in KNOWN_METRICS:
            raise SpecError(
                f"{path}: evaluation.thresholds.{metric} is not a known metric; "
                f"known: {', '.join(sorted(KNOWN_METRICS))}"
            )
        if isinstance(bound, bool) or not isinstance(bound, (int, float)) or not 0.0 <= bound <= 1.0:
            raise SpecError(f"{path}: evaluation.thresholds.{metric} must be within [0, 1], got {bound!r}")
    kinds = {METRICS[m].kind for m in thresholds}
    if len(kinds) > 1:
        raise SpecError(f"{path}: evaluation.thresholds mixes metric kinds ("
                        + "; ".join(f"{m}: {METRICS[m].kind}" for m in thresholds)
                        + "); a pipeline is either binary or multi-class")
    gate_metric = ev.get("gate_metric", next(iter(thresholds)))
    if gate_metric not in thresholds:
        raise SpecError(f"{path}: evaluation.gate_metric {gate_metric!r} must also appear in thresholds "
                        f"(has: {', '.join(thresholds)})")
    tolerance = ev.get("champion_tolerance", 0.0)
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0.0 <= tolerance <= 1.0:
        raise SpecError(f"{path}: evaluation.champion_tolerance must be within [0, 1], got {tolerance!r}")
    margin = ev.get("baseline_margin", DEFAULT_BASELINE_MARGIN)
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 0.0 <= margin <= 1.0:
        raise SpecError(f"{path}: evaluation.baseline_margin must be within [0, 1] (how much the gate metric "
                        f"must beat always answering the majority class), got {margin!r}")
    thresholds = {k: float(v) for k, v in thresholds.items()}
    if kinds == {BINARY}:
        thresholds.setdefault("auc", DEFAULT_BINARY_AUC)

    min_realized = mon.get("min_realized") or {gate_metric: thresholds[gate_metric]}
    if not isinstance(min_realized, dict) or not all(
            m in KNOWN_METRICS and METRICS[m].kind in kinds and isinstance(v, (int, float)) and not isinstance(v, bool)
            and 0 <= v <= 1 for m, v in min_realized.items()):
        raise SpecError(f"{path}: monitoring.min_realized must map metrics of this pipeline's kind "
                        f"({', '.join(sorted(m for m in KNOWN_METRICS if METRICS[m].kind in kinds))}) to bounds "
                        f"within [0, 1], got {min_realized!r}")
    label_column = str(mon.get("label_column") or sc.get("label_column") or "")
    if not label_column:
        raise SpecError(f"{path}: monitoring.label_column (or scoring.label_column) must name the label feed's "
                        "label column")
    rule = mon.get("label_rule")
    if rule is not None and (not isinstance(rule, str) or not rule.strip()):
        raise SpecError(f"{path}: monitoring.label_rule must be an expression over the label feed's columns, such "
                        f"as 'tips > 0.2 * fare', got {rule!r}")
    retrain = mon.get("retrain", True)
    if not isinstance(retrain, bool):
        raise SpecError(f"{path}: monitoring.retrain must be true or false, got {retrain!r}")
    for key in ("input_uri", "output_uri"):  # every scoring DAG reads these buckets (the allowed inputs)
        if key in sc and not str(sc[key]).startswith("s3://"):
            raise SpecError(f"{path}: scoring.{key} must be an s3:// URI, got {sc[key]!r} (a local file is scored "
                            "by naming it in the scoring DAG's form or with `nightshift score`)")
    labels_uri = str(mon.get("labels_uri") or f"s3://{str(src['uri'])[5:].split('/')[0]}/{name}-labels/")
    if not labels_uri.startswith("s3://"):
        raise SpecError(f"{path}: monitoring.labels_uri must be an s3:// URI, got {labels_uri!r}")
    monitoring = MonitoringSpec(
        labels_uri=labels_uri.rstrip("/") + "/", label_column=label_column, label_rule=rule,
        min_realized={str(k): float(v) for k, v in min_realized.items()},
        min_labelled_rows=positive_int(mon.get("min_labelled_rows", 100), "monitoring.min_labelled_rows", path),
        skew_runs=positive_int(mon.get("skew_runs", 3), "monitoring.skew_runs", path, allow_zero=True),
        schedule=schedule(mon.get("schedule", "0 6 * * *"), "monitoring.schedule", path), retrain=retrain)

    return PipelineSpec(
        name=name,
        monitoring=monitoring,
        description=str(top.get("description", "")),
        source=SourceSpec(dataset=str(src["dataset"]), uri=str(src["uri"]).rstrip("/") + "/",
                          timestamp_column=str(src["timestamp_column"]) if src.get("timestamp_column") else None),
        window=WindowSpec(mode=mode, days=days),
        contract=resolve_file(root, str(top["contract"]), "contract", path),
        module_file=resolve_file(root, str(top["module_file"]), "module_file", path),
        training=TrainingSpec(
            train_steps=positive_int(trn.get("train_steps", 1000), "training.train_steps", path),
            eval_steps=positive_int(trn.get("eval_steps", 150), "training.eval_steps", path),
        ),
        evaluation=EvaluationSpec(
            label_key=str(ev["label_key"]),
            thresholds=thresholds,
            champion_tolerance=float(tolerance),
            baseline_margin=float(margin),
            gate_metric=gate_metric,
            slices=tuple(str(s) for s in ev.get("slices", ())),
        ),
        push=PushSpec(uri=str(push["uri"]).rstrip("/"), model_name=str(push["model_name"])),
        airflow=AirflowSpec(
            schedule=schedule(af.get("schedule", "@daily"), "airflow.schedule", path),
            owner=str(af.get("owner", "nightshift")),
            retries=positive_int(af.get("retries", 1), "airflow.retries", path, allow_zero=True),
            retry_delay_minutes=number(af.get("retry_delay_minutes", 1.0), "airflow.retry_delay_minutes", path),
            task_timeout_minutes=positive_int(af.get("task_timeout_minutes", 60),
                                               "airflow.task_timeout_minutes", path),
            tags=tuple(str(t) for t in af.get("tags", ())),
            start_date=iso_date(af.get("start_date", "2024-01-01"), "airflow.start_date", path),
        ),
        reports_uri=str(top.get("reports_uri") or f"s3://{str(push['uri'])[5:].split('/')[0]}/reports").rstrip("/"),
        drift=DriftSpec(features={str(k): float(v) for k, v in drift_features.items()}, **drift_bounds),
        scoring=ScoringSpec(
            input_uri=str(sc.get("input_uri", src["uri"])),
            output_uri=str(sc.get("output_uri", f"s3://{models_bucket}/predictions/{push['model_name']}")).rstrip("/"),
            label_column=str(sc.get("label_column", "")),
            schedule=schedule(sc.get("schedule", "30 3 * * *"), "scoring.schedule", path),
            key_column=sc.get("key_column"),
            chunk_rows=positive_int(sc.get("chunk_rows", 32768), "scoring.chunk_rows", path),
            engine=str(engine),
        ),
        forms=FormsSpec(
            onnx=fm.get("onnx", True), quantised=fm.get("quantised", True),
            max_abs_diff=number(fm.get("max_abs_diff", 1e-4), "forms.max_abs_diff", path),
            quantised_max_abs_diff=number(fm.get("quantised_max_abs_diff", 0.05), "forms.quantised_max_abs_diff",
                                          path),
            quantised_max_accuracy_drop=number(fm.get("quantised_max_accuracy_drop", 0.005),
                                               "forms.quantised_max_accuracy_drop", path),
            held_out_rows=positive_int(fm.get("held_out_rows", 20000), "forms.held_out_rows", path),
        ),
        path=path,
        alerts=AlertSpec(webhook_conn=str(al.get("webhook_conn", "nightshift_alerts")),
                         deadline_minutes=number(al.get("deadline_minutes", 0), "alerts.deadline_minutes", path),
                         email=addresses(al.get("email", ()), "alerts.email", path),
                         email_conn=str(al.get("email_conn", "smtp_default"))),
        execution=ExecutionSpec(**{k: str(v) for k, v in ex.items()}),
        beam_pipeline_args=beam_args(top.get("beam_pipeline_args", list(DEFAULT_BEAM_ARGS)), path),
    )


def discover_specs(pipelines_dir: Path) -> list[Path]:
    """Every `pipelines/<name>/pipeline.yaml`, sorted, so DAG ids are stable."""
    return sorted(pipelines_dir.glob("*/pipeline.yaml"))


def spec_publishing_to(pipelines_dir: Path, model_uri: str) -> PipelineSpec | None:
    """The pipeline spec whose pusher publishes to `model_uri` (its drift bounds judge skew), or None."""
    for path in discover_specs(pipelines_dir):
        try:
            spec = load_spec(path)
        except SpecError:
            continue
        if spec.push.uri.rstrip("/") == model_uri.rstrip("/"):
            return spec
    return None
