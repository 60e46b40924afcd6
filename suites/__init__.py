"""The built-in verification suites (installed as :mod:`pytest_zdm.suites`).

Connection, dual writes, consistency, error recovery, performance and the end-to-end workflow, each check
marked with the phases it gates. ``pytest --zdm-target=NAME`` runs them; select and extend them as any
pytest tests (``-k``, ``-m``, your own test files using the plugin's fixtures).
"""
