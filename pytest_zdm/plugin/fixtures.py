"""The public fixtures: what suites and a team's own checks build on.

``zdm_settings``, ``zdm_env`` (endpoints, credentials, versions, controls), ``origin_session``,
``target_session``, ``proxy_session``, ``zdm_keyspace``, ``clusters`` (both clusters read side by side),
``evidence`` (attach a finding to the check's result), ``zdm_compare`` (the consistency engine that
``zdm_compare_engine`` selects), ``proxy_configuration`` and ``parsed_configuration``. They stay thin;
the work lives in plain classes usable without pytest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_zdm.assertions import Clusters
from pytest_zdm.consistency import Report, compare
from pytest_zdm.cql import keyspaces
from pytest_zdm.cql.keyspaces import Keyspace
from pytest_zdm.environment import ZdmEnv
from pytest_zdm.errors import ZdmError
from pytest_zdm.model import Control
from pytest_zdm.plugin.run import RUN_KEY, SESSIONS_KEY, SETTINGS_KEY, environment
from pytest_zdm.report import allure as allure_results
from pytest_zdm.runtime.wait import wait_until
from pytest_zdm.settings import Settings
from pytest_zdm.targets import target_class


@pytest.fixture(scope="session")
def zdm_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved settings of this run."""
    return pytestconfig.stash[SETTINGS_KEY]


@pytest.fixture(scope="session")
def zdm_artifacts(pytestconfig: pytest.Config) -> Path:
    """Directory for evidence files of this run (mismatch reports...): ``reports/<run id>/``."""
    path = Path(str(pytestconfig.rootpath)) / "reports" / pytestconfig.stash[RUN_KEY].run_id
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def zdm_env(request: pytest.FixtureRequest) -> ZdmEnv:
    """The started environment (endpoints, credentials, versions, controls), shared by all workers.

    When it cannot start, the first check that needs it errors with the reason's first line and the run
    stops there: every other check would fail the same way, and the whole reason (with the log tails) is
    printed once, in the ``zdm environment`` section at the end.
    """
    try:
        return environment(request.config)
    except ZdmError as exc:
        failure = exc
    first = str(failure).splitlines()[0] if str(failure) else type(failure).__name__
    request.session.shouldfail = "the zdm environment did not start (see the zdm environment section)"
    pytest.fail(f"zdm environment unavailable: {first}", pytrace=False)


def _session(config: pytest.Config, env: ZdmEnv, cluster: str) -> Iterator[Any]:
    client = env.connect(cluster)
    sessions = config.stash.setdefault(SESSIONS_KEY, {})
    sessions[cluster] = client.session
    try:
        yield client.session
    finally:
        sessions.pop(cluster, None)
        client.close()


@pytest.fixture(scope="session")
def origin_session(pytestconfig: pytest.Config, zdm_env: ZdmEnv) -> Iterator[Any]:
    """A cassandra-driver session straight to the origin cluster."""
    yield from _session(pytestconfig, zdm_env, "origin")


@pytest.fixture(scope="session")
def target_session(pytestconfig: pytest.Config, zdm_env: ZdmEnv) -> Iterator[Any]:
    """A cassandra-driver session straight to the target cluster."""
    yield from _session(pytestconfig, zdm_env, "target")


@pytest.fixture(scope="session")
def proxy_session(pytestconfig: pytest.Config, zdm_env: ZdmEnv) -> Iterator[Any]:
    """A cassandra-driver session through zdm-proxy (what the application uses)."""
    yield from _session(pytestconfig, zdm_env, "proxy")


@pytest.fixture(scope="session")
def zdm_keyspace(
    pytestconfig: pytest.Config, zdm_env: ZdmEnv, origin_session: Any, target_session: Any
) -> Iterator[Keyspace]:
    """Where this run (and worker) writes: a keyspace of its own, or its own tables in the team's keyspace.

    Without ``zdm_keyspace`` (nor a ``keyspace`` in zdm.toml) the framework creates ``zdm_verify_<run>``
    on each cluster (NetworkTopologyStrategy over that cluster's datacenters, ``zdm_replication_factor``)
    and drops it at the end. With one, it creates no keyspace: its tables there are named
    ``zdm_verify_<run>_*`` and only those are dropped at the end. Write ``ks.qualified("name")``.
    """
    worker = getattr(pytestconfig, "workerinput", {}).get("workerid", "main")
    run_id = pytestconfig.stash[RUN_KEY].run_id
    sessions = {"origin": origin_session, "target": target_session}
    existing = zdm_env.settings.zdm_keyspace or zdm_env.info.keyspace
    try:
        keyspaces.require_distinct(sessions)
    except ZdmError as exc:
        pytest.fail(str(exc), pytrace=False)
    if existing:
        try:
            keyspaces.allow_team_keyspace(existing)
            keyspaces.require_existing(sessions, existing)
        except ZdmError as exc:
            failure = str(exc)
        else:
            failure = ""
        if failure:
            pytest.fail(failure, pytrace=False)
        keyspace = Keyspace(existing, prefix=keyspaces.run_table_prefix(run_id, worker))
    else:
        keyspace = Keyspace(keyspaces.run_keyspace_name(run_id, worker))
        keyspaces.create_on_each(sessions, keyspace, zdm_env.settings.zdm_replication_factor)
        keyspaces.wait_exists(sessions, keyspace)
    yield keyspace

    ctx = pytestconfig.stash[RUN_KEY]
    settings = zdm_env.settings
    if not ctx.attached and not settings.zdm_keep and target_class(settings.zdm_target).disposable:
        # The run's own disposable environment is deleted, data and all, when the run ends: a DROP first
        # (seconds per table on both clusters) would prove nothing. Environments that outlive the run
        # (attached, kept, or someone else's) get their keyspace or tables dropped.
        return

    # The last check may have just restarted the proxy or a node: give the sessions time to reconnect.
    def cleaned() -> bool:
        for session in sessions.values():
            if keyspace.owned:
                keyspaces.drop(session, keyspace)
            else:
                keyspaces.drop_own_tables(session, keyspace)
        return True

    what = f"dropping {'keyspace ' + keyspace if keyspace.owned else 'the run tables in ' + keyspace}"
    wait_until(cleaned, timeout=60, what=what, interval=1.0, retry_on=(Exception,))


@pytest.fixture(scope="session")
def clusters(origin_session: Any, target_session: Any) -> Clusters:
    """Origin and target read side by side, straight to each cluster (never through the proxy)."""
    return Clusters(origin_session, target_session)


@pytest.fixture(scope="session")
def zdm_compare(zdm_settings: Settings, zdm_artifacts: Path) -> Iterator[Callable[..., Report]]:
    """``compare(origin, target, keyspace, table, **options)`` with the engine ``zdm_compare_engine`` names.

    ``python``: the one-process engine. ``spark``: a Spark job on ``zdm_spark_master``; the SparkSession
    (and, on first use, the connector's jars) is started by the first comparison that needs it, shared by
    the run's checks, and stopped with its JVM at the end. Spark's log goes to the run's report directory.
    """
    from pytest_zdm.consistency.spark_session import SparkHandle

    handle: list[SparkHandle] = []

    def run(*args: Any, **options: Any) -> Report:
        if zdm_settings.zdm_compare_engine == "python":
            return compare(*args, **options)
        if not handle:
            from pytest_zdm.consistency.spark_session import require_pyspark, start_session
            from pytest_zdm.provision import provision_spark_connector

            require_pyspark()
            connector = provision_spark_connector(zdm_settings, lambda _: None)
            handle.append(start_session(zdm_settings.zdm_spark_master, connector,
                                        conf=zdm_settings.zdm_spark_conf, log_dir=zdm_artifacts))  # fmt: skip
        return compare(*args, engine="spark", spark=handle[0].session, **options)

    try:
        yield run
    finally:
        for started in handle:
            started.close()


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> Any:
    """Record a finding on the check's result, e.g. a partial write, a mismatch report, a latency plot.

    It goes to the result's user properties (JUnit XML shows them) and, with ``--alluredir``, to Allure
    as an attachment: files (reports, plots) as themselves, other values as text.
    """

    def record(name: str, value: object) -> None:
        request.node.user_properties.append((name, str(value)))
        allure_results.attach_evidence(name, value)

    return record


@pytest.fixture
def proxy_configuration(zdm_env: Any) -> dict[str, Any]:
    """The proxy's effective configuration: the settings it was given and what it parsed at start-up."""
    if not zdm_env.supports(Control.PROXY_CONFIG):
        pytest.skip(f"target {zdm_env.target!r} cannot read the proxy's configuration")
    return dict(zdm_env.proxy_config())


@pytest.fixture
def parsed_configuration(proxy_configuration: dict[str, Any]) -> dict[str, Any]:
    """The ``Parsed configuration`` the proxy logged at its latest start (Go field names)."""
    parsed = proxy_configuration.get("parsed")
    assert parsed, "the proxy logged no 'Parsed configuration' line at start-up"
    return dict(parsed)
