"""Start an environment once per run (whatever the number of xdist workers), attach to it, stop it once.

:mod:`.lifecycle` spawns the supervisor (:mod:`.supervisor`), which owns the target for the whole run;
:class:`ZdmEnv` is what test processes hold. Works the same with or without pytest, so the CLI and the
benchmarks use it too.
"""

from pytest_zdm.environment.lifecycle import (
    attach,
    attach_running,
    start_or_attach,
    stop_environment,
    supervisor_identity,
    supervisor_pid,
)
from pytest_zdm.environment.zdm_env import ZdmEnv

__all__ = [
    "ZdmEnv",
    "attach",
    "attach_running",
    "start_or_attach",
    "stop_environment",
    "supervisor_identity",
    "supervisor_pid",
]
