"""The malloc tuning is applied once and reports whether it took effect."""

import platform

import pytest

from nightshift.control import process_memory


@pytest.mark.unit
def test_tuning_applies_on_glibc_and_is_idempotent(monkeypatch):
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("glibc only")
    monkeypatch.setattr(process_memory, "_applied", False)
    assert process_memory.keep_freed_memory_for_reuse() is True
    assert process_memory.keep_freed_memory_for_reuse() is True


@pytest.mark.unit
def test_without_mallopt_nothing_is_changed(monkeypatch):
    monkeypatch.setattr(process_memory, "_applied", False)
    monkeypatch.setattr(process_memory.ctypes.util, "find_library", lambda name: "libdoes-not-exist.so.0")
    assert process_memory.keep_freed_memory_for_reuse() is False
