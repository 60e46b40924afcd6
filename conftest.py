"""Root conftest of this repository (the design card's place for project-wide test configuration).

It is deliberately empty of hooks and fixtures: the plugin's fixtures come from the installed package
(entry point ``pytest11``), exactly as users get them, and pytester (for the plugin's own tests) is enabled
with ``-p pytester`` in ``pyproject.toml``, so the built-in suites see nothing here that an installed
plugin would not give them.
"""
