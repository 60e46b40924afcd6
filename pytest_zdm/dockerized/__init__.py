"""Docker support for the ``docker`` target: the engine, locally built images, the containers.

Users normally have a Docker engine and pull the official images. On machines that reach no container
registry (this project's CI), :mod:`pytest_zdm.dockerized.engine` starts Debian's engine with loopback-only
networking and :mod:`pytest_zdm.dockerized.images` builds the images from the artifacts the ``local`` target
uses, so the ``docker`` target runs for real there too.
"""
