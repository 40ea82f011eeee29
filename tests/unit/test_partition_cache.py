"""The worker-local partition cache keeps only exact copies and removes only its own files."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from urllib.parse import unquote

import pytest

from nightshift.control.partition_cache import PartitionCache, Pruned

pytestmark = pytest.mark.unit

BODY = b"a,b\n1,2\n"
ETAG = hashlib.md5(BODY).hexdigest()
KEY = "taxi/date=2016-01-01/part-00000.csv"


def test_a_copy_is_returned_only_for_the_etag_it_was_kept_under(tmp_path):
    cache = PartitionCache(tmp_path)
    assert cache.get("raw", KEY, ETAG) is None
    cache.put("raw", KEY, ETAG, BODY)
    assert cache.get("raw", KEY, ETAG) == BODY
    assert cache.get("raw", KEY, hashlib.md5(b"other").hexdigest()) is None  # S3 now holds other bytes
    assert [p.name for p in (tmp_path / "raw").iterdir()] == ["ktaxi%2Fdate%3D2016-01-01%2Fpart-00000.csv"]


def test_bytes_that_do_not_match_their_etag_are_not_kept_and_a_damaged_copy_is_not_returned(tmp_path):
    cache = PartitionCache(tmp_path)
    cache.put("raw", KEY, hashlib.md5(b"other").hexdigest(), BODY)
    assert not (tmp_path / "raw").exists()
    cache.put("raw", KEY, ETAG, BODY)
    [copy] = (tmp_path / "raw").iterdir()
    copy.write_bytes(b"a,b\n1,3\n")  # same size, one byte changed
    assert cache.get("raw", KEY, ETAG) is None


def test_a_multipart_etag_is_no_md5_so_the_object_is_never_cached(tmp_path):
    cache = PartitionCache(tmp_path)
    multipart = ETAG + "-2"
    cache.put("raw", KEY, multipart, BODY)
    assert cache.get("raw", KEY, multipart) is None
    assert list(tmp_path.iterdir()) == []


def test_a_key_that_climbs_out_of_the_folder_is_kept_inside_it(tmp_path):
    cache = PartitionCache(tmp_path / "cache")
    (tmp_path / "outside.csv").write_bytes(BODY)
    cache.put("raw", "../../outside2.csv", ETAG, BODY)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache", "outside.csv"]
    assert [p.name for p in (tmp_path / "cache/raw").iterdir()] == ["k..%2F..%2Foutside2.csv"]
    assert cache.get("raw", "../../outside.csv", ETAG) is None  # never reads the file outside


def test_prune_removes_copies_of_unlisted_objects_under_the_prefix_only(tmp_path):
    cache = PartitionCache(tmp_path)
    kept, gone = "taxi/date=2016-01-01/part-00000.csv", "taxi/date=2016-01-02/part-00000.csv"
    other = "taxi-score/date=2016-01-02/part-00000.csv"  # shares the prefix's text, not its folder
    for key in (kept, gone, other):
        cache.put("raw", key, ETAG, BODY)
    cache.put("other-bucket", gone, ETAG, BODY)
    in_flight = tmp_path / "raw" / ".ktaxi%2Fdate%3D2016-01-02%2Fpart-00000.csv.1.2.partial"  # another run's
    in_flight.write_bytes(b"a,b\n")

    assert cache.prune("raw", "taxi/", {kept}) == Pruned(unlisted=1, idle=0)
    assert cache.get("raw", gone, ETAG) is None
    assert cache.get("raw", kept, ETAG) == BODY and cache.get("raw", other, ETAG) == BODY
    assert cache.get("other-bucket", gone, ETAG) == BODY and in_flight.exists()
    assert cache.prune("raw", "nothing-here/", set()) == Pruned(0, 0)


def test_prune_removes_partial_copies_only_of_dead_processes_of_this_host(tmp_path):
    from nightshift.control.partition_cache import _host

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True, check=True)
    dead = int(finished.stdout)
    cache = PartitionCache(tmp_path)
    cache.put("raw", KEY, ETAG, BODY)
    name = ".ktaxi%2Fdate%3D2016-01-01%2Fpart-00000.csv"
    killed = tmp_path / "raw" / f"{name}.{_host()}.{dead}.7.partial"
    writing = tmp_path / "raw" / f"{name}.{_host()}.{os.getpid()}.7.partial"
    elsewhere = tmp_path / "raw" / f"{name}.another-worker.{dead}.7.partial"  # its pid means nothing here
    for path in (killed, writing, elsewhere):
        path.write_bytes(b"a,b\n")

    assert cache.prune("raw", "taxi/", {KEY}) == Pruned(0, 0)  # no copy of a listed object goes
    assert sorted(p.name for p in (tmp_path / "raw").iterdir()) == sorted(
        ["k" + name[2:], writing.name, elsewhere.name])


def test_copies_unused_for_max_idle_days_go_from_any_prefix_and_a_read_marks_a_copy_used(tmp_path):
    cache = PartitionCache(tmp_path, max_idle_days=30)
    read_lately, idle, moved, new = (f"taxi/date=2016-01-0{d}/part-00000.csv" for d in (1, 2, 3, 4))
    abandoned = "old-source/date=2016-01-01/part-00000.csv"  # a prefix no run stages any more
    for key in (read_lately, idle, moved, abandoned, new):
        cache.put("raw", key, ETAG, BODY)
    long_ago = time.time() - 31 * 86400
    for key in (read_lately, idle, moved, abandoned):
        os.utime(cache._path("raw", key), (long_ago, long_ago))
    assert cache.get("raw", read_lately, ETAG) == BODY  # used now
    moved_key = cache._path("raw", moved)
    os.utime(moved_key, (long_ago, time.time() - 29 * 86400))  # written 29 days ago: not idle yet

    assert cache.prune("raw", "taxi/", {read_lately, idle, moved, new}) == Pruned(unlisted=0, idle=2)
    kept = {unquote(p.name[1:]) for p in (tmp_path / "raw").iterdir()}
    assert kept == {read_lately, moved, new}
