"""Pipeline specs: one YAML file per ML pipeline, loaded into typed, validated dataclasses.

A spec is data a data engineer edits; the DAG factory and the TFX pipeline factory only read it.
Loading refuses unknown keys and out-of-range values with a message naming the file and the key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from nightshift.core.metrics import METRICS
from nightshift.core.registry.forms import AUTO, FORM_ORDER

KNOWN_METRICS = set(METRICS)
DEFAULT_BASELINE_MARGIN = 0.02
# A binary model's AUC bound when the spec sets none: the class prior (a constant score) has AUC 0.5.
DEFAULT_BINARY_AUC = 0.6
WINDOW_MODES = {"all_until_end", "trailing_days"}
# Airflow's cron presets; `null` in a spec means manual triggers only.
# Beam's DirectRunner in the node's own process: the default for every Beam-based TFX component. Its
# multi-process mode starts worker interpreters that import TensorFlow again for every component (taxi,
# 15k rows: ExampleGen 24 s -> 4 s, Transform 30 s -> 17 s in process). Dataflow, Flink, Spark or the
# multi-process DirectRunner are chosen by Beam's own flags in the spec.
DEFAULT_BEAM_ARGS = ("--direct_running_mode=in_memory",)
SCHEDULE_PRESETS = {"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly",
                    "@annually", "@midnight"}


@dataclass(frozen=True)
class SourceSpec:
    dataset: str
    uri: str  # s3://bucket/prefix/ of the raw landing zone, partitioned by date=YYYY-MM-DD
    timestamp_column: str | None = None  # unix seconds; decides a row's date partition when seeding


@dataclass(frozen=True)
class WindowSpec:
    mode: str = "all_until_end"
    days: int = 0  # used when mode == trailing_days


@dataclass(frozen=True)
class TrainingSpec:
    train_steps: int = 1000
    eval_steps: int = 150


@dataclass(frozen=True)
class EvaluationSpec:
    label_key: str
    thresholds: dict[str, float]  # metric -> lower bound
    champion_tolerance: float = 0.0  # challenger may be at most this much worse than the champion
    gate_metric: str = "binary_accuracy"
    slices: tuple[str, ...] = ()
    # The gate metric must beat always answering the evaluation split's majority class by this much.
    baseline_margin: float = DEFAULT_BASELINE_MARGIN


@dataclass(frozen=True)
class PushSpec:
    uri: str  # s3://bucket/<model name>
    model_name: str


@dataclass(frozen=True)
class AirflowSpec:
    schedule: str | None = "@daily"
    owner: str = "nightshift"
    retries: int = 1
    retry_delay_minutes: float = 1.0
    task_timeout_minutes: int = 60
    tags: tuple[str, ...] = ()
    start_date: str = "2024-01-01"


@dataclass(frozen=True)
class DriftSpec:
    """TFDV drift of this run's statistics against those of the run that trained the served version
    (0 = not checked)."""

    categorical_linf: float = 0.0  # L-infinity distance bound for string features
    numeric_js: float = 0.0  # Jensen-Shannon divergence bound for numeric features
    features: dict[str, float] = field(default_factory=dict)  # per-feature overrides


@dataclass(frozen=True)
class ScoringSpec:
    input_uri: str  # a file, or a prefix of date=YYYY-MM-DD/ partitions (the newest one is scored)
    output_uri: str  # predictions go to <output_uri>/<partition>/
    label_column: str  # raw column absent from scoring input; its expectations are skipped
    schedule: str | None = "30 3 * * *"  # None: triggered by a new published model only
    key_column: str | None = None
    chunk_rows: int = 32768
    # auto: the faster exact form of the version, by the speeds measured at publish (registry.forms.choose_engine);
    # or savedmodel / onnx / onnx_fp16 / onnx_int8: that form, and a version without it published is refused
    engine: str = AUTO


SCORING_ENGINES = (AUTO, *FORM_ORDER)  # each published form can score


@dataclass(frozen=True)
class FormsSpec:
    """Optimised forms the pusher builds beside the SavedModel (nightshift_tfx.forms), each published only if
    it agrees with the SavedModel on held-out rows of the evaluation split."""

    onnx: bool = True  # the whole serving graph (tf.Transform included) in ONNX
    quantised: bool = True  # the ONNX form with int8 weights
    max_abs_diff: float = 1e-4  # ONNX scores vs the SavedModel's
    quantised_max_abs_diff: float = 0.05  # the int8 form's scores vs the SavedModel's
    quantised_max_accuracy_drop: float = 0.005  # the int8 form's accuracy may be at most this much lower
    held_out_rows: int = 20000  # evaluation-split rows scored by both


@dataclass(frozen=True)
class MonitoringSpec:
    """How the served model is watched once labels arrive (the `<name>_monitor` DAG, `nightshift monitor`).

    Labels for the scored partition `date=D` land under `<labels_uri>/date=D/`; each label row joins its
    prediction by `scoring.key_column` when the spec names one, else by the fingerprint of the feature values
    both files share. The true class is `label_column` itself, or `label_rule` evaluated on the label row (the
    model module's own definition of its label, e.g. `tips > 0.2 * fare`)."""

    labels_uri: str
    label_column: str
    label_rule: str | None = None
    min_realized: dict[str, float] = field(default_factory=dict)  # metric -> lower bound; breach = retrain
    min_labelled_rows: int = 100  # fewer labelled rows than this: metrics reported, bounds not judged
    skew_runs: int = 3  # skew beyond the drift bounds in this many consecutive scored partitions retrains (0 = off)
    schedule: str | None = "0 6 * * *"
    retrain: bool = True  # a breach triggers `<name>_nightly` (its conf and note say why)


@dataclass(frozen=True)
class ExecutionSpec:
    """Where TFX nodes run: `subprocess` (the TFX interpreter beside the Airflow worker) or `kubernetes`
    (a pod of the runtime image per node, through the cncf-kubernetes provider)."""

    backend: str = "subprocess"
    image: str = "nightshift-runtime:0.1.0"
    namespace: str = "nightshift"
    cpu: str = "1"
    memory: str = "4Gi"
    volume_claim: str = "nightshift-var"  # PVC mounted at NIGHTSHIFT_VAR_DIR: run folders shared with Airflow
    kubernetes_conn_id: str = "kubernetes_default"


EXECUTION_BACKENDS = {"subprocess", "kubernetes"}


@dataclass(frozen=True)
class AlertSpec:
    webhook_conn: str = "nightshift_alerts"  # Airflow connection holding the webhook URL; absent = log only
    deadline_minutes: float = 0.0  # a nightly run still going this long after it was queued is late (0 = off)
    email: tuple[str, ...] = ()  # also e-mail failures to these addresses (smtp provider's notifier)
    email_conn: str = "smtp_default"  # Airflow SMTP connection (host, port, login, extra.from_email)


@dataclass(frozen=True)
class PipelineSpec:
    name: str
    description: str
    source: SourceSpec
    window: WindowSpec
    contract: Path
    module_file: Path
    training: TrainingSpec
    evaluation: EvaluationSpec
    push: PushSpec
    airflow: AirflowSpec
    reports_uri: str
    drift: DriftSpec
    scoring: ScoringSpec
    path: Path = field(compare=False)
    monitoring: MonitoringSpec | None = None  # filled in by the loader (defaults derive from other sections)
    alerts: AlertSpec = AlertSpec()
    beam_pipeline_args: tuple[str, ...] = DEFAULT_BEAM_ARGS
    execution: ExecutionSpec = ExecutionSpec()
    forms: FormsSpec = FormsSpec()

    @property
    def scoring_dag_id(self) -> str:
        return f"{self.name}_batch_score"

    @property
    def model_asset_uri(self) -> str:
        """The Airflow Asset a successful publish updates: the model's pointer object."""
        return f"{self.push.uri}/CURRENT.json"

    @property
    def nightly_dag_id(self) -> str:
        return f"{self.name}_nightly"

    @property
    def monitor_dag_id(self) -> str:
        return f"{self.name}_monitor"

    @property
    def labels_asset_uri(self) -> str:
        """The Airflow Asset a label landing updates (`nightshift labels land`): it starts the monitor."""
        assert self.monitoring is not None
        return self.monitoring.labels_uri.rstrip("/")  # as Airflow stores it
