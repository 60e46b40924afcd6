"""Test helpers for the ``static`` target: zdm.toml files and Astra-shaped secure connect bundles."""

from __future__ import annotations

import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest


def toml_for(origin: str, target: str, proxy: str, metrics_url: str, *, username: str = "cassandra") -> str:
    """A zdm.toml with contact points; passwords in ZDM_TEST_ORIGIN_PW / ZDM_TEST_TARGET_PW."""
    return (
        f'[origin]\ncontact_points = ["{origin}"]\nlocal_dc = "datacenter1"\nusername = "{username}"\n'
        f'password_env = "ZDM_TEST_ORIGIN_PW"\n\n'
        f'[target]\ncontact_points = ["{target}"]\nlocal_dc = "datacenter1"\nusername = "{username}"\n'
        f'password_env = "ZDM_TEST_TARGET_PW"\n\n'
        f'[proxy]\ncontact_points = ["{proxy}"]\nmetrics_url = "{metrics_url}"\n'
    )


def tls_files(directory: Path) -> dict[str, bytes]:
    """A throwaway self-signed certificate and its key (made with openssl: never committed)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate for a secure connect bundle")
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(directory / "key"), "-out", str(directory / "cert"), "-days", "2",
         "-subj", "/CN=pytest-zdm-test"],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    cert = (directory / "cert").read_bytes()
    return {"ca.crt": cert, "cert": cert, "key": (directory / "key").read_bytes()}


def make_bundle(
    path: Path,
    tls: dict[str, bytes],
    *,
    config: object | None = None,
    leave_out: tuple[str, ...] = (),
    replace: dict[str, bytes] | None = None,
) -> Path:
    """A zip shaped like an Astra secure connect bundle (metadata service at ``config``'s host and port)."""
    members = {
        "config.json": json.dumps(
            config if config is not None else {"host": "127.0.0.1", "port": 1}
        ).encode(),
        **tls,
        **(replace or {}),
    }
    with zipfile.ZipFile(path, "w") as bundle:
        for name, data in members.items():
            if name not in leave_out:
                bundle.writestr(name, data)
    return path
