#!/usr/bin/env bash
# The verification run: the built-in suites against --zdm-target (default local), with JUnit XML and Allure results,
# the gate verdict when --zdm-gate is given (reports/gate.json), then the HTML report a reviewer signs off
# (reports/allure-report/index.html). Exit code: pytest's, which follows the gate's verdict when gating.
set -uo pipefail
cd "$(dirname "$0")/.."
.venv/bin/pytest --alluredir=reports/allure-results --clean-alluredir \
  --junitxml=reports/verification.xml -ra "$@"
rc=$?
if ! .venv/bin/zdm-verify report; then
  echo "verify: the HTML report could not be rendered (error above); results are in reports/allure-results" >&2
fi
exit "$rc"
