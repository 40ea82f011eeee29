"""The scorer reads exactly the object the input gate checked (real SeaweedFS; local files)."""

from __future__ import annotations

import pytest

from nightshift.core.scoring_input import InputChanged, fetch_input

pytestmark = pytest.mark.integration


def test_an_s3_input_modified_between_gate_and_score_fails_naming_it(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="in/date=2030-01-01/part.csv", Body=b"fare\n1.0\n")
    uri = f"s3://{bucket}/in/date=2030-01-01/part.csv"
    gate_copy, fingerprint = fetch_input(s3, uri, tmp_path / "gate")
    same, again = fetch_input(s3, uri, tmp_path / "score", expect=fingerprint)
    assert again == fingerprint and same.read_bytes() == gate_copy.read_bytes() == b"fare\n1.0\n"

    s3.put_object(Bucket=bucket, Key="in/date=2030-01-01/part.csv", Body=b"fare\n999.0\n")  # replaced meanwhile
    with pytest.raises(InputChanged, match=f"{uri}: changed since the input gate checked it"):
        fetch_input(s3, uri, tmp_path / "score2", expect=fingerprint)
    assert not (tmp_path / "score2" / "part.csv").exists()


def test_a_local_input_modified_between_gate_and_score_fails_naming_it(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text("fare\n1.0\n")
    copy, fingerprint = fetch_input(None, str(source), tmp_path / "gate")
    assert fingerprint.startswith("sha256:") and copy != source and copy.read_text() == "fare\n1.0\n"
    source.write_text("fare\n2.0\n")
    with pytest.raises(InputChanged, match=f"{source}: changed since the input gate checked it"):
        fetch_input(None, str(source), tmp_path / "score", expect=fingerprint)
    assert list((tmp_path / "score").iterdir()) == []
