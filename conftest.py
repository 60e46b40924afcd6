"""Root conftest: enables pytester for the plugin's own tests (``pytest_plugins`` is only allowed here).

The pytest-zdm plugin itself is registered through its ``pytest11`` entry point once the package is
installed (``pip install -e .``), exactly as users get it.
"""

pytest_plugins = ["pytester"]
