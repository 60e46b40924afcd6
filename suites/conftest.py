"""Fixtures shared by the verification suites (thin: the logic lives in ``pytest_zdm``)."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_zdm import allure_results
from pytest_zdm.assertions import Clusters
from pytest_zdm.targets.base import Control


@pytest.fixture(scope="session")
def clusters(origin_session: Any, target_session: Any) -> Clusters:
    """Origin and target read side by side, straight to each cluster (never through the proxy)."""
    return Clusters(origin_session, target_session)


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
