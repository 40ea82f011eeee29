"""The scoring DAG's first two tasks, run as Airflow runs them (operator.execute), on real files and S3."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from nightshift.core.config import PROJECT_ROOT
from nightshift.core.scoring_input import resolve_input

pytestmark = pytest.mark.integration
CONTRACT = str(PROJECT_ROOT / "data_contracts" / "taxi" / "taxi.v1.json")


def test_a_prefix_of_partitions_scores_the_newest(s3, bucket):
    for day in ("2030-01-02", "2030-01-10", "2030-01-05"):
        s3.put_object(Bucket=bucket, Key=f"in/date={day}/part-00000.csv", Body=b"a\n1\n")
    resolved = resolve_input(s3, f"s3://{bucket}/in/", "s3://out/predictions/taxi", fallback_partition="2030-02-01")
    assert resolved == {"input": f"s3://{bucket}/in/date=2030-01-10/part-00000.csv",
                        "output": "s3://out/predictions/taxi/date=2030-01-10/", "partition": "date=2030-01-10"}


def _gate(path: str):
    from nightshift_airflow.scoring_operators import ScoringInputGateOperator

    op = ScoringInputGateOperator(task_id="input_gate", contract_path=CONTRACT, label_column="tips",
                                  resolve_task_id="resolve_input")
    ti = SimpleNamespace(xcom_pull=lambda task_ids: {"input": path, "output": "unused", "partition": "p"})
    return op.execute({"ti": ti})


def test_the_input_gate_accepts_a_parquet_input_and_pins_what_it_checked(taxi_csv, tmp_path):
    data = pd.read_csv(taxi_csv).drop(columns=["tips"]).head(2000)
    path = tmp_path / "in.parquet"
    data.to_parquet(path)
    result = _gate(str(path))
    assert result["rows"] == 2000 and result["fingerprint"].startswith("sha256:")


def test_the_input_gate_fails_a_bad_input_without_retry_naming_the_expectation(taxi_csv, tmp_path):
    from airflow.sdk.exceptions import AirflowFailException

    data = pd.read_csv(taxi_csv).drop(columns=["tips"]).head(2000)
    data["payment_type"] = "Bitcoin"
    path = tmp_path / "bad.csv"
    data.to_csv(path, index=False)
    with pytest.raises(AirflowFailException) as caught:
        _gate(str(path))
    assert str(caught.value).startswith(f"{path}: does not meet taxi")
    assert "column payment_type: expect_column_values_to_be_in_set" in str(caught.value)
