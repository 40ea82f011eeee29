#!/usr/bin/env bash
# Build both interpreters from the lock files, install nightshift into each, write the local .env,
# and migrate Airflow's SQLite database. Idempotent: on a built tree it checks stamps and exits fast.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
UV_VERSION=0.13.9

find_python() {  # $1 = version prefix, e.g. 3.12
  local v=$1 cand
  for cand in "${NIGHTSHIFT_PYTHON_ROOT:-$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")}/versions/$v".*/bin/python \
              "$(command -v "python$v" 2>/dev/null || true)"; do
    if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -c 'import sys' >/dev/null 2>&1; then
      echo "$cand"; return 0
    fi
  done
  echo "bootstrap: no Python $v interpreter found (looked under pyenv and on PATH); install one first" >&2
  return 1
}

PY312=$(find_python 3.12)
PY310=$(find_python 3.10)

# uv: use one on PATH, else a private copy in .tools/ (pip from PyPI; uv is ~4x faster than pip here).
if command -v uv >/dev/null 2>&1; then UV=$(command -v uv); else
  UV=$ROOT/.tools/bin/uv
  if [ ! -x "$UV" ]; then
    "$PY312" -m venv .tools
    .tools/bin/pip install -q "uv==$UV_VERSION"
  fi
fi

lock_hash() { cat "$1" pyproject.toml | sha256sum | cut -d' ' -f1; }

build_env() {  # $1 = venv dir, $2 = python, $3 = lock file
  local venv=$1 py=$2 lock=$3 stamp="$1/.nightshift-lock.sha256" want
  want=$(lock_hash "$lock")
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "bootstrap: $venv is up to date with $lock"
    return 0
  fi
  [ -x "$venv/bin/python" ] || "$UV" venv -q --python "$py" "$venv"
  echo "bootstrap: syncing $venv from $lock"
  VIRTUAL_ENV=$venv "$UV" pip sync -q "$lock"
  VIRTUAL_ENV=$venv "$UV" pip install -q --no-deps -e .
  echo "$want" > "$stamp"
}

# Debian's docker-compose (1.29) checks docker-compose.yaml in the tests; no Docker engine is needed for that.
if ! command -v docker-compose >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian's docker-compose (to check docker-compose.yaml)"
    (apt-get install -y -q docker-compose >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null; }) \
      || echo "bootstrap: could not install docker-compose; tests/integration/test_compose_file.py will fail" >&2
  else
    echo "bootstrap: docker-compose missing; install Debian's package docker-compose to check docker-compose.yaml" >&2
  fi
fi

# Debian's Chromium and chromedriver: the browser tests drive the Airflow UI headless (tests/browser.py).
# Not in an image build (NIGHTSHIFT_BOOTSTRAP_NO_INIT): no test runs there.
if [ -z "${NIGHTSHIFT_BOOTSTRAP_NO_INIT:-}" ] && { ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; }; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: installing Debian's chromium and chromium-driver (for the browser tests)"
    (apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; }) \
      || echo "bootstrap: could not install chromium; the browser tests will fail" >&2
  else
    echo "bootstrap: chromium missing; install Debian's chromium and chromium-driver for the browser tests" >&2
  fi
fi

build_env .venv "$PY312" requirements/control.lock
build_env .venv-tfx "$PY310" requirements/runtime.lock

# An image build (docker/control.Dockerfile) stops here: its database and settings come from the environment.
if [ -z "${NIGHTSHIFT_BOOTSTRAP_NO_INIT:-}" ]; then
  .venv/bin/python -m nightshift.local.stack init
fi
