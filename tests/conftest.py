"""Shared helpers for the plugin's own tests.

Integration tests boot real Cassandra nodes and a real zdm-proxy. Where the proxy cannot be provisioned on
this machine (no binary given, ``go install`` refused and no source named), tests that need it are skipped
with the exact provisioning error as the reason: the skip is reported, never counted as a pass. CI sets
``PYTEST_ZDM_REQUIRE_PROXY=true``: there such a test fails instead, so CI cannot go green without proving
the checks against a real proxy.
"""

from __future__ import annotations

import os

import pytest

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision import provision_proxy
from pytest_zdm.settings import Settings

_PROXY_PROBLEM: list[str] = []


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
