#!/usr/bin/env bash
# `make test`: every test, in three pytest runs.
#   1. The fast suites, the TFX interpreter's (tests/runtime) and the control side's unit, integration and
#      security tests, run in the background, each on ports of its own, while
#   2. the end-to-end suite runs in the foreground: it spends much of its time waiting for Airflow's scheduler
#      and task processes, time the fast suites use. Their reports are printed when the end-to-end suite ends.
#   3. Modules that start a stack of their own (marker `own_stack`) run last, with the session's stack down.
# The exit status is non-zero when any run failed; the last lines say which.
set -uo pipefail
cd "$(dirname "$0")/.."
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT

.venv-tfx/bin/python -m pytest tests/runtime -v -p no:cacheprovider -W ignore::FutureWarning \
    >"$reports/runtime.txt" 2>&1 &
runtime_pid=$!
.venv/bin/python -m pytest -v -m "not e2e and not own_stack" >"$reports/fast.txt" 2>&1 &
fast_pid=$!
echo "== tests/runtime and the unit, integration and security tests run in the background (reports below)"

.venv/bin/python -m pytest -v -m "e2e and not own_stack"
e2e=$?
wait "$runtime_pid"
runtime=$?
wait "$fast_pid"
fast=$?
echo "== tests/runtime (TFX interpreter)"
cat "$reports/runtime.txt"
echo "== unit, integration and security"
cat "$reports/fast.txt"

echo "== end to end, stacks of their own"
.venv/bin/python -m pytest -v -m own_stack
own=$?

echo "== exit codes: runtime $runtime, unit+integration+security $fast, end to end $e2e, own stacks $own"
[ "$runtime" -eq 0 ] && [ "$fast" -eq 0 ] && [ "$e2e" -eq 0 ] && [ "$own" -eq 0 ]
