"""The ``docker`` target: the same environment as ``local``, as containers started with testcontainers.

:mod:`.target` assembles it; :mod:`.containers` starts, watches and controls each container.
"""

from pytest_zdm.targets.docker.target import DockerTarget, docker_client

#: The targets this package provides, by name.
TARGETS = {"docker": DockerTarget}

__all__ = ["TARGETS", "DockerTarget", "docker_client"]
