"""A scoring input confined to its roots even when a symlink is swapped between the check and the read.

`check_input_allowed` resolves the path; the input gate then opens it. Before the fix the gate reopened the
path, so a link in a world-writable root (/tmp is one by default) pointed at a data file during the check and
at another user's file during the read was copied and validated (its columns echoed in the gate's errors)."""

from __future__ import annotations

import pytest

from nightshift.core.errors import NightshiftError
from nightshift.core.scoring_input import InputNotAllowed, check_input_allowed, fetch_input

pytestmark = [pytest.mark.security, pytest.mark.integration]


def test_a_link_swapped_after_the_check_is_refused_on_what_was_opened(tmp_path):
    root, outside = tmp_path / "inputs", tmp_path / "private"
    root.mkdir()
    outside.mkdir()
    (root / "day.csv").write_text("a,b\n1,2\n")
    (outside / "secret.csv").write_text("password\nhunter2\n")
    link = root / "score.csv"
    link.symlink_to(root / "day.csv")
    check_input_allowed(str(link), [], [root])  # passes: the link points inside

    link.unlink()
    link.symlink_to(outside / "secret.csv")  # the swap, after the check
    dest = tmp_path / "copies"
    with pytest.raises(InputNotAllowed, match="scoring reads local files only under"):
        fetch_input(None, str(link), dest, roots=[root])
    assert not any(p.read_bytes() == b"password\nhunter2\n" for p in dest.rglob("*") if p.is_file())


def test_a_link_inside_the_root_to_a_file_inside_still_reads(tmp_path):
    root = tmp_path / "inputs"
    root.mkdir()
    (root / "day.csv").write_text("a,b\n1,2\n")
    (root / "latest.csv").symlink_to(root / "day.csv")
    copy, fingerprint = fetch_input(None, str(root / "latest.csv"), tmp_path / "copies", roots=[root])
    assert copy.read_text() == "a,b\n1,2\n" and fingerprint.startswith("sha256:")


def test_a_fifo_is_refused_at_once_not_waited_on(tmp_path):
    import os

    fifo = tmp_path / "inputs" / "day.csv"
    fifo.parent.mkdir()
    os.mkfifo(fifo)  # a blocking open would wait for a writer that never comes
    with pytest.raises(NightshiftError, match="not a regular file"):
        fetch_input(None, str(fifo), tmp_path / "copies", roots=[fifo.parent])


def test_a_device_is_not_an_input(tmp_path):
    with pytest.raises(NightshiftError, match="not a regular file") as err:
        fetch_input(None, "/dev/zero", tmp_path / "copies", roots=None)
    assert type(err.value) is NightshiftError


@pytest.mark.parametrize("labels_uri", ["s3://nightshift-models/taxi/manifests/", "/etc/passwd",
                                        "file:///etc/passwd"])
def test_the_monitor_forms_labels_uri_is_confined_before_anything_is_read(labels_uri, monkeypatch):
    """The monitor DAG's `labels_uri` is a form field: before the fix any s3:// object the publisher key could
    read (the registry itself) was joined and its columns echoed in the task's error."""
    from airflow.sdk.exceptions import AirflowFailException
    from nightshift_airflow.monitor_operators import RealizedMetricsOperator

    monkeypatch.setenv("NIGHTSHIFT_SCORING_INPUT_PREFIXES", "s3://nightshift-raw/")
    op = RealizedMetricsOperator(task_id="realized", spec_path="/nonexistent/pipeline.yaml",
                                 registry_uri="s3://nightshift-models/taxi", labels_uri=labels_uri)
    with pytest.raises(AirflowFailException, match="only"):
        op.execute(context={})
