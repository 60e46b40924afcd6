"""Shared helpers for the plugin's own tests.

Integration tests boot real Cassandra nodes and a real zdm-proxy. Where the proxy cannot be provisioned on
this machine (no binary given, ``go install`` refused and no source named), tests that need it are skipped
with the exact provisioning error as the reason: the skip is reported, never counted as a pass. CI sets
``PYTEST_ZDM_REQUIRE_PROXY=true``: there such a test fails instead, so CI cannot go green without proving
the checks against a real proxy.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest

from pytest_zdm.errors import ProvisionError, ZdmError
from pytest_zdm.provision import provision_proxy, provision_spark_connector
from pytest_zdm.runtime.ports import release_ports, reserve_ports
from pytest_zdm.settings import Settings

_PROXY_PROBLEM: list[str] = []


@pytest.fixture
def reserved_ports() -> Iterator[Callable[[int], list[int]]]:
    """``take(n)``: ports for servers a test starts itself, reserved until the test ends.

    ``free_ports()`` only picks: until the server binds (seconds later for a JVM or a container), another
    worker's environment may take the same port. Seen on CI: a container's "Failed to bind port 24382 on
    127.0.0.1 ... Address already in use".
    """
    taken: list[int] = []

    def take(count: int) -> list[int]:
        ports = reserve_ports(count)
        taken.extend(ports)
        return ports

    yield take
    release_ports(taken)


@pytest.fixture(scope="session")
def proxy_available(zdm_settings: Settings) -> None:
    """Skip (with the provisioning error) when no real zdm-proxy can be had on this machine."""
    if not _PROXY_PROBLEM:
        try:
            provision_proxy(zdm_settings, progress=lambda _: None)
            _PROXY_PROBLEM.append("")
        except ProvisionError as exc:
            _PROXY_PROBLEM.append(str(exc))
    if _PROXY_PROBLEM[0]:
        if os.environ.get("PYTEST_ZDM_REQUIRE_PROXY", "").lower() == "true":
            pytest.fail(
                f"PYTEST_ZDM_REQUIRE_PROXY=true but no zdm-proxy could be provisioned: {_PROXY_PROBLEM[0]}"
            )
        pytest.skip(f"needs a real zdm-proxy, which could not be provisioned here: {_PROXY_PROBLEM[0]}")


@pytest.fixture(scope="session", autouse=True)
def _shared_artifact_cache(zdm_settings: Settings) -> None:
    """pytester moves HOME; inner runs must still find the artifacts this run uses (no re-fetch)."""
    os.environ.setdefault("PYTEST_ZDM_CACHE_DIR", str(zdm_settings.zdm_cache_dir))


@pytest.fixture(scope="module")
def spark(zdm_settings: Settings, tmp_path_factory: pytest.TempPathFactory):
    """A local[2] SparkSession with the Spark Cassandra Connector, for the module; its JVM stopped after.

    Skipped (with the reason) where pyspark or the connector cannot be had; failed instead under
    ``PYTEST_ZDM_REQUIRE_SPARK=true`` (CI).
    """
    from pytest_zdm.consistency.spark_session import require_pyspark, start_session

    try:
        require_pyspark()
        connector = provision_spark_connector(zdm_settings, progress=lambda _: None)
    except ZdmError as exc:
        if os.environ.get("PYTEST_ZDM_REQUIRE_SPARK", "").lower() == "true":
            pytest.fail(f"PYTEST_ZDM_REQUIRE_SPARK=true but the spark engine cannot run: {exc}")
        pytest.skip(f"needs pyspark 3.5 and the Spark Cassandra Connector: {exc}")
    handle = start_session("local[2]", connector, log_dir=tmp_path_factory.mktemp("spark"))
    try:
        yield handle
    finally:
        handle.close()
