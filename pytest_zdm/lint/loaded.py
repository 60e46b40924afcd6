"""What a loader read from a file: the settings, what kind of file it was, findings made while reading."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pytest_zdm.lint.catalog import Finding


@dataclass
class Loaded:
    """Settings read from one file, the kind of file, and problems found while reading it."""

    settings: dict[str, str]
    kind: str
    findings: list[Finding] = field(default_factory=list)
    hidden_sources: tuple[str, ...] = ()


def _expected(path: Path) -> str:
    return (
        f"{path}: not a zdm-proxy configuration; expected an env file (ZDM_*=value lines), a zdm-proxy "
        "YAML config (keys such as origin_contact_points), Kubernetes manifests with ZDM_* env entries, "
        "or a proxy log with a 'Parsed configuration' line"
    )
