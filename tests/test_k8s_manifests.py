"""The shipped k8s/ manifests configure zdm-proxy with real settings only (``zdm-verify lint-config``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

MANIFEST = Path(__file__).resolve().parent.parent / "k8s" / "zdm-proxy.yaml"


def lint_config(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``zdm-verify lint-config``: the console script installed beside this interpreter."""
    command = [str(Path(sys.executable).parent / "zdm-verify"), "lint-config", str(path), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_the_shipped_proxy_manifest_lints_clean_for_the_dual_write_phase():
    result = lint_config(MANIFEST, "--phase", "1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{MANIFEST}: no findings"


def test_the_same_manifest_with_a_setting_the_proxy_ignores_fails_the_lint(tmp_path):
    seeded = tmp_path / "zdm-proxy.yaml"
    seeded.write_text(
        MANIFEST.read_text().replace("  ZDM_LOG_LEVEL: INFO\n", "  ZDM_LOG_LEVEL: INFO\n  ZDM_PHASE: B\n")
    )
    result = lint_config(seeded, "--phase", "1")
    assert result.returncode == 1
    assert f"{seeded}: ZDM_PHASE: not a zdm-proxy setting; the proxy silently ignores it" in result.stdout


def test_the_shipped_proxy_manifest_is_not_for_the_cut_over_phase():
    result = lint_config(MANIFEST, "--phase", "4")
    assert result.returncode == 1
    assert "ZDM_PRIMARY_CLUSTER: phase 4" in result.stdout
