"""Who ran the verification, where, with what command, from which commit of the verification project.

A sign-off names the run it signs: in a known CI (GitHub Actions, GitLab CI, Jenkins) the build and its
link; everywhere, and above all at a desk where no CI records it, the user, the host, the command line and
the git commit of the verification project (with a note when the checkout had uncommitted changes, since
then the commit does not say what ran). The command line passes through :mod:`pytest_zdm.redact` before it
is written anywhere.
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pytest_zdm.runtime.process import run_once

_GIT_TIMEOUT = 10.0


@dataclass(frozen=True)
class Executor:
    """The run's executor as the sign-off page, ``gate.json`` and Allure's executor widget show it."""

    user: str
    host: str
    command: str
    workdir: str
    git_commit: str
    ci: str = ""
    build_name: str = ""
    build_url: str = ""

    def to_json(self) -> dict[str, str]:
        """For the run record and ``gate.json``."""
        return asdict(self)

    def allure(self) -> dict[str, Any]:
        """Allure's ``executor.json``: the CI build where there is one, else user@host and the command."""
        if self.ci:
            kind = {"GitHub Actions": "github", "GitLab CI": "gitlab", "Jenkins": "jenkins"}.get(self.ci, "")
            return {"name": self.ci, "type": kind, "buildName": self.build_name, "buildUrl": self.build_url}
        return {"name": f"{self.user}@{self.host}", "type": "local", "buildName": self.command}


def ci_build(env: Mapping[str, str]) -> tuple[str, str, str]:
    """(CI name, build name, build URL) in GitHub Actions, GitLab CI or Jenkins; empty strings elsewhere."""
    if env.get("GITHUB_ACTIONS") == "true":
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        run = env.get("GITHUB_RUN_ID", "")
        url = f"{server}/{env.get('GITHUB_REPOSITORY', '')}/actions/runs/{run}"
        return "GitHub Actions", f"{env.get('GITHUB_WORKFLOW', '')} #{env.get('GITHUB_RUN_NUMBER', run)}", url
    if env.get("GITLAB_CI") == "true":
        job = f"job {env.get('CI_JOB_NAME', '')} #{env.get('CI_JOB_ID', '')}"
        return "GitLab CI", f"{env.get('CI_PROJECT_PATH', '')} {job}".strip(), env.get("CI_JOB_URL", "")
    if env.get("JENKINS_URL") and env.get("BUILD_URL"):
        job = f"{env.get('JOB_NAME', '')} #{env.get('BUILD_NUMBER', '')}"
        return "Jenkins", job, env.get("BUILD_URL", "")
    return "", "", ""


def git_commit(project: Path) -> str:
    """``<sha> (<branch>)`` of the checkout holding ``project``, noting uncommitted changes; or why none."""
    git = shutil.which("git")
    if git is None:
        return "unknown (git not found on PATH)"

    def ask(*args: str) -> str | None:
        try:
            proc = run_once([git, "-C", str(project), *args], timeout=_GIT_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    sha = ask("rev-parse", "HEAD")
    if not sha:
        return f"none ({project} is not in a git checkout with a commit)"
    branch = ask("rev-parse", "--abbrev-ref", "HEAD") or "?"
    changed = ask("status", "--porcelain", "--untracked-files=no")
    dirty = ", uncommitted changes" if changed else ""
    return f"{sha} ({branch}{dirty})"


def current(project: Path, args: Sequence[str], env: Mapping[str, str] | None = None) -> Executor:
    """The executor of this process: ``args`` are pytest's own (``config.invocation_params.args``)."""
    env = os.environ if env is None else env
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        user = str(os.getuid())
    ci, build_name, build_url = ci_build(env)
    return Executor(
        user=user,
        host=socket.gethostname(),
        command=shlex.join(["pytest", *args]),
        workdir=os.getcwd(),
        git_commit=git_commit(project),
        ci=ci,
        build_name=build_name,
        build_url=build_url,
    )
