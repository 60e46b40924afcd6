#!/usr/bin/env bash
# Idempotent setup on a fresh machine: a virtualenv with pytest-zdm and its dev tools, then the real
# artifacts (Cassandra jars with mvn, zdm-proxy with go install) in the cache. Fast when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "bootstrap: $1 not found on PATH: $2" >&2; exit 1; }; }
need python3 "pytest-zdm needs Python >= 3.10"
need java "the local target runs Cassandra on Java 11 or 17"
need mvn "the local target fetches Cassandra's jars from Maven Central"

if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  python3 -m venv .venv
fi
echo "bootstrap: installing pytest-zdm (editable) and its dev tools into .venv"
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[dev]'

echo "bootstrap: provisioning Cassandra jars"
.venv/bin/zdm-verify provision --cassandra-only
echo "bootstrap: provisioning zdm-proxy"
if ! .venv/bin/zdm-verify provision; then
  echo "bootstrap: WARNING: no zdm-proxy binary could be provisioned (error above). The verification" >&2
  echo "bootstrap: WARNING: needs one: set PYTEST_ZDM_PROXY_BINARY to a zdm-proxy 2.x binary. Tests that" >&2
  echo "bootstrap: WARNING: need a real proxy will be reported as SKIPPED with that error." >&2
fi
