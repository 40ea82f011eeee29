"""The TFX graph of a nightshift training pipeline, known to the control side without importing TFX.

The Airflow DAG mirrors these edges; a runtime test compiles the real TFX pipeline and checks its
IR has exactly these nodes and upstream sets, so the two cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Node:
    node_id: str  # TFX node id in the compiled IR
    task_id: str  # Airflow task id
    upstream: tuple[str, ...]  # TFX node ids


# The served version, imported as the Evaluator's baseline (nightshift_tfx.champion). Absent from a run's IR
# when nothing is served yet: its task is then skipped and the Evaluator runs without a champion.
CHAMPION_ID = "served_model_importer"
PUSHER_ID = "Pusher"
# Anomalies, the served version's schema and drift (nightshift_tfx.data_check): the run stops here, before training.
DATA_CHECK_ID = "DataCheck"

TRAINING_NODES: tuple[Node, ...] = (
    Node("CsvExampleGen", "example_gen", ()),
    Node("StatisticsGen", "statistics_gen", ("CsvExampleGen",)),
    Node("SchemaGen", "schema_gen", ("StatisticsGen",)),
    Node("ExampleValidator", "example_validator", ("SchemaGen", "StatisticsGen")),
    Node("Transform", "transform", ("CsvExampleGen", "SchemaGen")),
    Node(DATA_CHECK_ID, "data_check", ("ExampleValidator", "SchemaGen", "StatisticsGen")),
    # DataCheck is an explicit upstream of Trainer: anomalies and drift stop the run before training.
    Node("Trainer", "trainer", (DATA_CHECK_ID, "SchemaGen", "Transform")),
    Node(CHAMPION_ID, "served_model", ()),
    Node("Evaluator", "evaluator", ("CsvExampleGen", "Trainer", CHAMPION_ID)),
    Node(PUSHER_ID, "pusher", ("CsvExampleGen", "Evaluator", "Trainer")),  # the evaluation split measures the forms
)
