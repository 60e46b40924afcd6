"""Target registry: ``--zdm-target`` names map to :class:`~pytest_zdm.targets.base.Target` classes."""

from __future__ import annotations

from pytest_zdm.errors import SettingError
from pytest_zdm.targets.base import Target


def target_class(name: str) -> type[Target]:
    """The class behind a target name (imported lazily: a target's dependencies load only when used)."""
    if name == "local":
        from pytest_zdm.targets.local import LocalTarget

        return LocalTarget
    if name in ("kind", "kube"):
        from pytest_zdm.targets.kube import KindTarget, KubeTarget

        return KindTarget if name == "kind" else KubeTarget
    if name == "static":
        from pytest_zdm.targets.static import StaticTarget

        return StaticTarget
    if name == "docker":
        from pytest_zdm.targets.docker import DockerTarget

        return DockerTarget
    from pytest_zdm.settings import TARGET_NAMES

    raise SettingError(f"zdm_target: expected one of {', '.join(TARGET_NAMES)}, got {name!r}")
