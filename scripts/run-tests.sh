#!/usr/bin/env bash
# `make test`: every test, in four pytest runs side by side. One end-to-end session keeps this 2-core machine's
# CPUs about half busy (measured: it mostly waits for Airflow's scheduler, its task processes and TFX), so:
#   - the TFX interpreter's tests (tests/runtime) and the control side's unit, integration and security tests
#     run in the background;
#   - the end-to-end modules that never touch the taxi model (SIDE: backfill, mail, penguins, the walk-through,
#     and the Celery profile with its stack of its own) run in a second session with a stack of its own;
#   - the other end-to-end modules run in the foreground, their report on screen as it happens.
# The background reports are printed when all runs have ended. Every server listens on 127.0.0.1 on a port the
# OS hands out. The exit status is non-zero when any run failed; the last line says which.
set -uo pipefail
cd "$(dirname "$0")/.."
reports=$(mktemp -d)
trap 'rm -rf "$reports"' EXIT
# The Celery module first: its stack of its own runs and is gone before this session's stack starts (pytest
# starts that stack for the first module that needs it), so the two never idle side by side.
SIDE=(tests/e2e/test_celery_stack.py tests/e2e/test_backfill.py tests/e2e/test_email_alert.py
      tests/e2e/test_penguins.py tests/e2e/test_walkthrough.py)

# The fast suites at a lower priority: they end well before the end-to-end sessions, whose runs are the
# critical path, so the CPU goes to those first.
nice -n 5 .venv-tfx/bin/python -m pytest tests/runtime -v -p no:cacheprovider -W ignore::FutureWarning \
    >"$reports/runtime.txt" 2>&1 &
runtime_pid=$!
nice -n 5 .venv/bin/python -m pytest -v -m "not e2e" >"$reports/fast.txt" 2>&1 &
fast_pid=$!
.venv/bin/python -m pytest -v "${SIDE[@]}" >"$reports/side.txt" 2>&1 &
side_pid=$!
echo "== in the background: tests/runtime; unit, integration and security; end to end: ${SIDE[*]}"

.venv/bin/python -m pytest -v -m e2e "${SIDE[@]/#/--ignore=}"
e2e=$?
status=()
for run in runtime fast side; do
    pid_var="${run}_pid"
    wait "${!pid_var}"
    code=$?
    status+=("$run $code")
    echo "== report: $run (exit $code)"
    cat "$reports/$run.txt"
done
echo "== exit codes: e2e $e2e, ${status[*]}"
[ "$e2e" -eq 0 ] && for s in "${status[@]}"; do [ "${s##* }" -eq 0 ] || exit 1; done
