"""The pytest plugin (entry point ``pytest11: zdm``), one subject per module.

- :mod:`.options`: every setting as an ini and a command-line option;
- :mod:`.run`: the run directory, the environment started once and stopped once, xdist hand-over;
- :mod:`.markers`: ``zdm_destructive``, ``zdm_stable_proxy``, ``zdm_required_for`` and what they do;
- :mod:`.collection`: built-in suites, Allure labels, the gate's required checks;
- :mod:`.evidence`: what each check's Allure result carries (the proxy's metric deltas, log tails);
- :mod:`.header`: the report header and the environment summary;
- :mod:`.fixtures`: the public fixtures.
"""

pytest_plugins = [
    "pytest_zdm.plugin.options",
    "pytest_zdm.plugin.run",
    "pytest_zdm.plugin.markers",
    "pytest_zdm.plugin.collection",
    "pytest_zdm.plugin.evidence",
    "pytest_zdm.plugin.header",
    "pytest_zdm.plugin.fixtures",
]
