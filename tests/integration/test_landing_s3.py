"""Seeding and staging the raw landing zone against a real SeaweedFS server."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from nightshift.control.landing import seed, split_by_date, stage_window
from nightshift.core.errors import EmptyWindowError, NightshiftError
from nightshift.core.s3 import list_keys
from nightshift.core.windows import DataWindow

pytestmark = pytest.mark.integration


def test_taxi_csv_splits_into_daily_partitions(taxi_csv):
    header, groups = split_by_date(taxi_csv, "trip_start_timestamp")
    assert "tips" in header
    assert sum(len(rows) for rows in groups.values()) == 15002
    assert min(groups) >= "2013-01-01" and max(groups) <= "2016-12-31"
    assert len(groups) > 1000  # ~10 trips a day over four years


def test_seed_then_stage_a_window_keeps_rows_byte_for_byte(s3, bucket, taxi_csv, tmp_path):
    uri = f"s3://{bucket}/taxi/"
    result = seed(s3, taxi_csv, uri, "trip_start_timestamp")
    assert result.rows == 15002
    assert len(list_keys(s3, bucket, "taxi/date=")) == result.partitions

    everything = stage_window(s3, uri, DataWindow(None, date(2017, 1, 1)), tmp_path / "all.csv")
    assert everything.rows == 15002
    with taxi_csv.open(newline="") as a, everything.path.open(newline="") as b:
        original = sorted(map(tuple, csv.reader(a)))
        staged = sorted(map(tuple, csv.reader(b)))
    assert original == staged  # same header and same field text, in date order instead of file order

    year = stage_window(s3, uri, DataWindow(date(2015, 1, 1), date(2016, 1, 1)), tmp_path / "2015.csv")
    assert 0 < year.rows < 15002
    assert year.first_partition.startswith("2015-") and year.last_partition.startswith("2015-")

    again = seed(s3, taxi_csv, uri, "trip_start_timestamp")  # idempotent: the same data is left as it is
    assert len(list_keys(s3, bucket, "taxi/date=")) == again.partitions == result.partitions


def test_seed_never_overwrites_a_partition_that_holds_other_data(s3, bucket, tmp_path):
    sample = tmp_path / "s.csv"
    sample.write_text("ts,x\n86400,1\n172800,2\n259200,3\n")  # 1970-01-02, -03, -04
    landed = b"ts,x\n172800,99\n"  # an ingestion job's file for 1970-01-03
    s3.put_object(Bucket=bucket, Key="raw/date=1970-01-03/part-00000.csv", Body=landed)
    with pytest.raises(NightshiftError, match=rf"1 partition\(s\) already hold other data .*"
                                              rf"s3://{bucket}/raw/date=1970-01-03/part-00000.csv"):
        seed(s3, sample, f"s3://{bucket}/raw/", "ts")
    assert list_keys(s3, bucket, "raw/") == ["raw/date=1970-01-03/part-00000.csv"]  # nothing else written
    assert s3.get_object(Bucket=bucket, Key="raw/date=1970-01-03/part-00000.csv")["Body"].read() == landed


def test_seed_refuses_a_partition_holding_another_writers_file_of_another_name(s3, bucket, tmp_path):
    """Only `part-00000.csv` was compared: a partition holding an ingestion job's `part-00001.csv` got the seed's
    file beside it, and stage_window then trained on both."""
    sample = tmp_path / "s.csv"
    sample.write_text("ts,x\n86400,1\n172800,2\n")  # 1970-01-02, -03
    s3.put_object(Bucket=bucket, Key="raw/date=1970-01-03/part-00001.csv", Body=b"ts,x\n172800,99\n")
    with pytest.raises(NightshiftError, match=rf"1 partition\(s\) already hold other data .*"
                                              rf"s3://{bucket}/raw/date=1970-01-03/part-00000.csv"):
        seed(s3, sample, f"s3://{bucket}/raw/", "ts")
    assert list_keys(s3, bucket, "raw/") == ["raw/date=1970-01-03/part-00001.csv"]


def test_stage_refuses_an_empty_window(s3, bucket, tmp_path):
    with pytest.raises(EmptyWindowError, match=f"s3://{bucket}/taxi/"):
        stage_window(s3, f"s3://{bucket}/taxi/", DataWindow(None, date(2000, 1, 1)), tmp_path / "x.csv")


def test_stage_reorders_columns_and_reports_partitions_it_cannot_merge(s3, bucket, tmp_path):
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-01/part-00000.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-02/part-00000.csv", Body=b"b,a\n4,3\n")  # same set
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-03/part-00000.csv", Body=b"a,c\n5,6\n")
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-04/part-00000.csv.gz", Body=b"\x1f\x8b\x08\x00trunc")
    staged = stage_window(s3, f"s3://{bucket}/t/", DataWindow(None, date(2017, 1, 1)), tmp_path / "x.csv")
    assert staged.path.read_text() == "a,b\n1,2\n3,4\n"
    assert staged.rows == 2 and staged.partitions == 4
    assert len(staged.problems) == 2
    assert "date=2016-01-03/part-00000.csv: columns differ" in staged.problems[0] and "['b']" in staged.problems[0]
    assert "date=2016-01-04/part-00000.csv.gz: compression: gzip" in staged.problems[1]


def test_stage_names_a_partition_s_encoding_delimiter_or_emptiness(s3, bucket, tmp_path):
    """docs/data-contracts.md: a partition stage_window cannot read is named with the reason."""
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-01/part-00000.csv", Body=b"a,b\n1,2\n")
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-02/part-00000.csv", Body=b"a,b\n3,caf\xe9\n")  # Latin-1
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-03/part-00000.csv", Body=b"a;b\n5;6\n")
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-04/part-00000.csv", Body=b"")
    staged = stage_window(s3, f"s3://{bucket}/t/", DataWindow(None, date(2017, 1, 1)), tmp_path / "x.csv")
    assert staged.path.read_text() == "a,b\n1,2\n"
    assert (staged.rows, staged.partitions, len(staged.problems)) == (1, 4, 3), staged.problems
    where = f"s3://{bucket}/t/date=2016-01-0"
    assert staged.problems[0] == (f"{where}2/part-00000.csv: encoding: not UTF-8 (byte 0xe9 at offset 9); "
                                  "re-export the file as UTF-8")
    assert staged.problems[1].startswith(f"{where}3/part-00000.csv: delimiter: expected ',' between columns")
    assert staged.problems[2] == f"{where}4/part-00000.csv: empty: the file has no header and no rows"


def test_seed_names_a_missing_timestamp_column(tmp_path, s3, bucket):
    path = tmp_path / "no_ts.csv"
    path.write_text("fare,tips\n1,2\n")
    with pytest.raises(NightshiftError, match="no_ts.csv: column 'trip_start_timestamp' not found"):
        seed(s3, path, f"s3://{bucket}/x/", "trip_start_timestamp")


def test_a_second_stage_downloads_only_what_changed_and_forgets_what_s3_no_longer_holds(s3, bucket, tmp_path):
    from urllib.parse import quote

    from nightshift.control.partition_cache import PartitionCache

    keys = [f"t/date=2016-01-0{day}/part-00000.csv" for day in (1, 2, 3)]
    for day, key in enumerate(keys, start=1):
        s3.put_object(Bucket=bucket, Key=key, Body=f"a,b\n{day},{day}\n".encode())
    cache = PartitionCache(tmp_path / "cache")
    gets: list[str] = []

    def count(params, **_kwargs):
        gets.append(params["Key"])

    s3.meta.events.register("before-parameter-build.s3.GetObject", count)

    def stage(name: str):
        gets.clear()
        return stage_window(s3, f"s3://{bucket}/t/", DataWindow(None, date(2017, 1, 1)), tmp_path / name,
                            cache=cache)

    first = stage("1.csv")
    assert sorted(gets) == keys and first.downloaded == 3
    second = stage("2.csv")
    assert gets == [] and second.downloaded == 0 and second.rows == 3
    assert second.path.read_bytes() == first.path.read_bytes() == b"a,b\n1,1\n2,2\n3,3\n"

    s3.put_object(Bucket=bucket, Key=keys[1], Body=b"a,b\n20,20\n")  # replaced in place
    copies = {key: tmp_path / "cache" / bucket / ("k" + quote(key, safe="")) for key in keys}
    copies[keys[0]].write_bytes(b"a,b\n9,9\n")  # a damaged copy
    third = stage("3.csv")
    assert sorted(gets) == keys[:2] and third.downloaded == 2
    assert third.path.read_bytes() == b"a,b\n1,1\n20,20\n3,3\n"
    listed = {o["Key"]: o["ETag"].strip('"') for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert [p["etag"] for p in third.partition_uris] == [listed[k] for k in keys]

    s3.delete_object(Bucket=bucket, Key=keys[2])
    fourth = stage("4.csv")
    assert gets == [] and fourth.rows == 2
    assert sorted(p.name for p in (tmp_path / "cache" / bucket).iterdir()) == sorted(copies[k].name for k in keys[:2])
    assert copies[keys[1]].read_bytes() == b"a,b\n20,20\n"


def test_stage_writes_the_contracts_integer_columns_as_integers_whatever_tool_wrote_them(s3, bucket, tmp_path):
    """pandas writes an integer column with gaps as 480.0: staged as 480, so ExampleGen infers the INT the
    contract declares; a fraction leaves its partition out, named with its line, column and value."""
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-01/part-00000.csv", Body=b"secs,fare\n480.0,1.5\n,2.0\n-3,0.5\n")
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-02/part-00000.csv", Body=b"secs,fare\n300,1.0\n17031081000.00,2\n")
    s3.put_object(Bucket=bucket, Key="t/date=2016-01-03/part-00000.csv", Body=b"secs,fare\n12,1.0\n13.5,2.0\n")
    staged = stage_window(s3, f"s3://{bucket}/t/", DataWindow(None, date(2017, 1, 1)), tmp_path / "x.csv",
                          integer_columns=("secs", "not_in_the_file"))
    with (tmp_path / "x.csv").open() as fh:
        assert list(csv.reader(fh)) == [["secs", "fare"], ["480", "1.5"], ["", "2.0"], ["-3", "0.5"], ["300", "1.0"],
                                        ["17031081000", "2"]]  # fare is not an integer column: left as written
    assert (staged.rows, staged.problems) == (5, (
        f"s3://{bucket}/t/date=2016-01-03/part-00000.csv: line 3: column 'secs': '13.5' is not a whole number "
        "(the contract reads it as integers)",))
