"""``zdm-verify init``: a verification project a team commits next to its migration, ready to run.

It holds pytest's settings for the chosen target, a ``zdm.toml`` for a migration reached at fixed endpoints,
one check of the team's own written with the plugin's fixtures (the built-in suites run beside it), a CI job
that gates the chosen phase change and keeps the evidence, and a short README. Nothing in it is secret:
passwords come from the environment.
"""

from __future__ import annotations

from pathlib import Path

import pytest_zdm
from pytest_zdm.errors import SettingError
from pytest_zdm.phases import PHASES

_PYTEST_INI = """\
[pytest]
# Written by zdm-verify init (pytest-zdm {version}). pytest runs pytest-zdm's built-in suites beside the
# checks in checks/; `zdm-verify settings` lists every setting (each is also a --zdm-... option).
testpaths = checks
zdm_target = {target}
{target_settings}# The phase the proxy runs with now (1 deploy-proxy, 2 migrate-data, 3 async-dual-reads,
# 4 route-reads); when gating (--zdm-gate=N) it defaults to the phase before N.
# zdm_phase = 1
addopts = -ra --junitxml=reports/verification.xml --alluredir=reports/allure-results --clean-alluredir
"""

_TARGET_SETTINGS = {
    "local": "",
    "docker": "# Images (defaults: the official cassandra:5.0 and datastax/zdm-proxy:2.4.2):\n"
    "# zdm_docker_cassandra_image = cassandra:5.0\n# zdm_docker_proxy_image = datastax/zdm-proxy:2.4.2\n",
    "kind": "# The kind cluster whose context (kind-<name>) is used, and where the migration runs:\n"
    "zdm_kind_cluster = zdm\nzdm_kube_namespace = default\n",
    "kube": "# The kubeconfig context (default: the current one) and where the migration runs:\n"
    "# zdm_kube_context = my-cluster\nzdm_kube_namespace = default\n",
    "static": "zdm_static_config = zdm.toml\n",
}

_ZDM_TOML = """\
# zdm.toml: the fixed endpoints of a migration that runs elsewhere (pytest --zdm-target=static).
# Secrets are never written here: each *_env key names the environment variable that holds one.
# Test traffic goes where you point it: use endpoints of the migration you verify.

[origin]                                   # the cluster the application uses today
contact_points = ["127.0.0.1:9042"]
local_dc = "datacenter1"
username = "zdm_verify"
password_env = "ZDM_ORIGIN_PASSWORD"

[target]                                   # another Cassandra cluster; for Astra, see below
contact_points = ["127.0.0.1:9043"]
local_dc = "datacenter1"
username = "zdm_verify"
password_env = "ZDM_TARGET_PASSWORD"
# An Astra database is reached through its secure connect bundle instead:
# secure_connect_bundle = "secure-connect-mydb.zip"   # relative to this file
# token_env = "ASTRA_DB_TOKEN"

[proxy]                                    # what the application connects to
contact_points = ["127.0.0.1:14002"]
metrics_url = "http://127.0.0.1:14001"     # zdm-proxy's metrics and /health endpoints
"""

_CHECK = '''\
"""Checks of your own, beside pytest-zdm's built-in suites: the fixtures give you each cluster and the proxy.

This one writes a row shaped like the application's through the proxy (as the application does) and reads
it straight from each cluster. Put your tables and the statements your application really sends here;
mark each check with the phase changes it must pass before, and the gate requires it.
"""

import pytest

pytestmark = pytest.mark.zdm_required_for(1, 2, 3, 4, 5)


def test_an_order_written_through_the_proxy_is_on_both_clusters(proxy_session, clusters, zdm_keyspace):
    """An order the application writes lands on origin AND target with the same values."""
    table = f"{{zdm_keyspace}}.my_orders"
    proxy_session.execute(f"CREATE TABLE IF NOT EXISTS {{table}} (id int PRIMARY KEY, status text, n int)")
    proxy_session.execute(
        f"INSERT INTO {{table}} (id, status, n) VALUES (%s, %s, %s)", (1, "paid", 42)
    )
    clusters.assert_row(
        f"SELECT status, n FROM {{table}} WHERE id = %s",
        (1,),
        {{"status": "paid", "n": 42}},
        "order 1 written through the proxy",
    )
'''

_GITHUB = """\
# Gate a ZDM phase change: run the verification against the migration and fail unless the gate says PASS.
# The evidence (gate.json, JUnit, the sign-off report and its PDF) is kept for the reviewer who signs the
# change off; reports/history (earlier runs of the same target and phase: the report's trend) is carried
# from one run to the next in the Actions cache.
name: zdm-gate
on:
  workflow_dispatch:
    inputs:
      phase:
        description: "ZDM phase about to be entered (1-5 or its name)"
        required: true
        default: "{phase}"
  pull_request:
jobs:
  gate:
    runs-on: ubuntu-latest
    timeout-minutes: 45
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with: {{python-version: "3.11"}}
      - uses: actions/setup-java@v4       # the local and docker targets run Cassandra; the report needs Java
        with: {{distribution: temurin, java-version: "17"}}
      - uses: actions/setup-go@v5         # the local target builds zdm-proxy (go install)
        with: {{go-version: "1.26"}}
      - uses: actions/setup-node@v4       # the Allure command line comes from npm
        with: {{node-version: "20"}}
      - run: pip install "pytest-zdm=={version}" pytest-xdist
      - name: earlier runs (the report's history and trend)
        uses: actions/cache/restore@v4
        with:
          path: reports/history
          key: zdm-history-{target}-${{{{ inputs.phase || '{phase}' }}}}-${{{{ github.run_id }}}}
          restore-keys: zdm-history-{target}-${{{{ inputs.phase || '{phase}' }}}}-
      - name: verify and gate
        env:
          ZDM_ORIGIN_PASSWORD: ${{{{ secrets.ZDM_ORIGIN_PASSWORD }}}}
          ZDM_TARGET_PASSWORD: ${{{{ secrets.ZDM_TARGET_PASSWORD }}}}
        run: pytest --zdm-gate=${{{{ inputs.phase || '{phase}' }}}}
      - name: render the report (index.html opens from disk; signoff.pdf by the runner's Chrome)
        if: always()
        run: zdm-verify report
      - name: keep the history for the next run
        if: always()
        uses: actions/cache/save@v4
        with:
          path: reports/history
          key: zdm-history-{target}-${{{{ inputs.phase || '{phase}' }}}}-${{{{ github.run_id }}}}
      - uses: actions/upload-artifact@v4
        if: always()
        with:
          name: zdm-gate
          path: reports/
"""

_GITLAB = """\
# Gate a ZDM phase change: run the verification against the migration and fail unless the gate says PASS.
# The evidence (gate.json, JUnit, the sign-off report and its PDF) is kept for the reviewer who signs the
# change off; reports/history (earlier runs of the same target and phase: the report's trend) is carried
# from one pipeline to the next in GitLab's cache.
zdm-gate:
  image: python:3.11
  variables:
    ZDM_PHASE_TO_ENTER: "{phase}"
  cache:
    key: zdm-history-{target}-$ZDM_PHASE_TO_ENTER
    paths: [reports/history/]
    when: always
  before_script:
    - apt-get update -qq && apt-get install -y -qq default-jre-headless npm chromium
  script:
    - pip install "pytest-zdm=={version}" pytest-xdist
    - pytest --zdm-gate=$ZDM_PHASE_TO_ENTER
  after_script:
    - zdm-verify report || true
  artifacts:
    when: always
    paths: [reports/]
    reports:
      junit: reports/verification.xml
"""

_README = """\
# Verification of our ZDM migration

Written by `zdm-verify init` (pytest-zdm {version}): the gate for entering phase {phase_name}.

```bash
pip install "pytest-zdm=={version}" pytest-xdist
pytest --zdm-gate={phase}         # the built-in suites and checks/, against the {target} target
zdm-verify report                 # reports/allure-report/index.html (sign-off first) and signoff.pdf
```

- `pytest.ini`: which environment is verified (`zdm_target`) and how; `zdm-verify settings` lists the rest.
- `checks/`: our own checks; the plugin's fixtures (`proxy_session`, `clusters`, `zdm_keyspace`...) give
  each cluster and the proxy. Mark a check `zdm_required_for(phases)` and the gate requires it.
- `zdm.toml`: endpoints of a migration reached as it runs (`--zdm-target=static`); passwords only in the
  environment variables it names.
- `{ci_file}`: the CI job that gates the phase change and keeps the evidence.
"""

_GITIGNORE = "reports/\n"


def write_project(directory: Path, *, target: str, phase: int, ci: str, force: bool = False) -> list[Path]:
    """Write the project into ``directory``; returns the files written.

    Existing files are left alone unless ``force``: a project a team has edited is never overwritten by
    accident (the error names the first file that exists).
    """
    if target not in _TARGET_SETTINGS:
        raise SettingError(f"--target: expected one of {', '.join(_TARGET_SETTINGS)}, got {target!r}")
    version = pytest_zdm.__version__
    ci_file = ".github/workflows/zdm-gate.yml" if ci == "github" else ".gitlab-ci.yml"
    values = {
        "version": version,
        "target": target,
        "phase": phase,
        "phase_name": f"{phase} ({PHASES[phase].slug})",
        "ci_file": ci_file,
        "target_settings": _TARGET_SETTINGS[target],
    }
    files = {
        "pytest.ini": _PYTEST_INI.format(**values),
        "zdm.toml": _ZDM_TOML,
        "checks/test_my_application.py": _CHECK.format(**values),
        ci_file: (_GITHUB if ci == "github" else _GITLAB).format(**values),
        "README.md": _README.format(**values),
        ".gitignore": _GITIGNORE,
    }
    existing = [name for name in files if (directory / name).exists()]
    if existing and not force:
        raise SettingError(
            f"init: {directory / existing[0]} exists; expected a new or empty project directory (or --force)"
        )
    written = []
    for name, text in files.items():
        path = directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        written.append(path)
    return written
