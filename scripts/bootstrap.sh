#!/usr/bin/env bash
# Idempotent setup on a fresh machine: a virtualenv with pytest-zdm and its dev tools, then the real
# artifacts (Cassandra jars with mvn, zdm-proxy with go install, or built from PYTEST_ZDM_PROXY_SOURCE when
# the Go module proxy refuses it) in the cache. Fast when already done.
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
  echo "bootstrap: WARNING: needs one: PYTEST_ZDM_PROXY_SOURCE=<zdm-proxy checkout or .tar.gz> (built with" >&2
  echo "bootstrap: WARNING: go build) or PYTEST_ZDM_PROXY_BINARY=<zdm-proxy 2.x binary>. Tests that need a" >&2
  echo "bootstrap: WARNING: real proxy are reported as SKIPPED with that error (FAILED when" >&2
  echo "bootstrap: WARNING: PYTEST_ZDM_REQUIRE_PROXY=true, as in CI)." >&2
  if [ "${PYTEST_ZDM_REQUIRE_PROXY:-}" = true ]; then exit 1; fi
fi
