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


RESOLVER_ID = "latest_blessed_model_resolver"
PUSHER_ID = "Pusher"

TRAINING_NODES: tuple[Node, ...] = (
    Node("CsvExampleGen", "example_gen", ()),
    Node("StatisticsGen", "statistics_gen", ("CsvExampleGen",)),
    Node("SchemaGen", "schema_gen", ("StatisticsGen",)),
    Node("ExampleValidator", "example_validator", ("SchemaGen", "StatisticsGen")),
    Node("Transform", "transform", ("CsvExampleGen", "SchemaGen")),
    # ExampleValidator is an explicit upstream of Trainer: anomalies stop the run before training.
    Node("Trainer", "trainer", ("ExampleValidator", "SchemaGen", "Transform")),
    Node(RESOLVER_ID, "latest_blessed_model_resolver", ()),
    Node("Evaluator", "evaluator", ("CsvExampleGen", "Trainer", RESOLVER_ID)),
    Node(PUSHER_ID, "pusher", ("Evaluator", "Trainer")),
)

# Exit code of a node process that ended on purpose without output to publish (not blessed,
# or publishing switched off): the Airflow task is then marked skipped, not failed.
EXIT_NOTHING_TO_PUBLISH = 99
