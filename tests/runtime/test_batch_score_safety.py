"""The scorer refuses before any work when it would overwrite what is not its own, and checks its output."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nightshift_tfx.batch_score import EXIT_DATA_ERROR, check_output, main
from nightshift_tfx.score_input import ScoringInputError, iter_batches

from nightshift.core.s3 import list_keys

pytestmark = pytest.mark.integration
SPEC = {"fare": {"dtype": "float", "required": True}}


def test_score_into_a_prefix_with_foreign_objects_exits_nonzero_and_deletes_nothing(s3, bucket, tmp_path,
                                                                                    capsys):
    s3.put_object(Bucket=bucket, Key="analysis/a.csv", Body=b"1")
    s3.put_object(Bucket=bucket, Key="analysis/b.csv", Body=b"2")
    (tmp_path / "in.csv").write_text("fare\n1.0\n")
    code = main(["--model-uri", f"s3://{bucket}/no-model", "--input", str(tmp_path / "in.csv"),
                 "--output", f"s3://{bucket}/analysis/"])
    logged = capsys.readouterr().out  # the scorer logs to stdout (the task log)
    assert code == EXIT_DATA_ERROR
    assert f"s3://{bucket}/analysis/a.csv" in logged and f"s3://{bucket}/analysis/b.csv" in logged
    assert sorted(list_keys(s3, bucket, "analysis/")) == ["analysis/a.csv", "analysis/b.csv"]


def test_score_into_the_registry_is_refused(s3, tmp_path, capsys):
    (tmp_path / "in.csv").write_text("fare\n1.0\n")
    code = main(["--model-uri", "s3://nightshift-models/taxi", "--input", str(tmp_path / "in.csv"),
                 "--output", "s3://nightshift-models/taxi/"])
    logged = capsys.readouterr().out
    assert code == EXIT_DATA_ERROR and "overlaps s3://nightshift-models/taxi" in logged


def test_score_into_a_local_folder_with_a_foreign_file_keeps_it(tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.xlsx").write_bytes(b"keep")
    (tmp_path / "in.csv").write_text("fare\n1.0\n")
    code = main(["--model-uri", "s3://nightshift-models/taxi", "--input", str(tmp_path / "in.csv"),
                 "--output", str(out)])
    logged = capsys.readouterr().out
    assert code == EXIT_DATA_ERROR and "report.xlsx" in logged
    assert [p.name for p in out.iterdir()] == ["report.xlsx"] and (out / "report.xlsx").read_bytes() == b"keep"


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_missing_key_column_is_an_error_naming_it(tmp_path, suffix):
    path = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        path.write_text("fare,trip_id\n1.0,a\n")
    else:
        pq.write_table(pa.table({"fare": [1.0], "trip_id": ["a"]}), str(path))
    with pytest.raises(ScoringInputError, match=r"s3://b/in: key column 'ride_id' .* columns found: fare, trip_id"):
        list(iter_batches(path, SPEC, 100, key_column="ride_id", where="s3://b/in"))


def test_the_output_gate_counts_nan_and_infinite_scores(tmp_path):
    path = tmp_path / "p.parquet"
    scores = np.array([0.1, np.nan, 0.7, np.nan, np.inf], dtype=np.float32)
    pq.write_table(pa.table({"score": scores}), str(path))
    assert check_output(path, 5) == [f"{path}: 2 NaN score(s)", f"{path}: scores span [0.10000000149011612, inf], "
                                                                 "expected within [0, 1]"]
    assert check_output(path, 6)[0] == f"{path}: 5 predictions for 6 input rows"
