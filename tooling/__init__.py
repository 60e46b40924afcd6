"""The project's own CI tooling (not shipped in the wheel): what CI needs that a user's machine does not.

A Docker engine started with the loopback rule and images built without a registry
(:mod:`.docker_engine`, :mod:`.docker_images`). Run it from the repository's root: ``python -m tooling``.
"""
