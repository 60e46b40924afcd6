"""Apache Cassandra from its Maven Central jars: fetched with ``mvn``, checked to load, cached by version.

Each release is paired with the Java it runs on (:mod:`pytest_zdm.provision.java`): the jars are checked
with that Java, and nodes are started with it. Users who already have Cassandra point at it with
``zdm_cassandra_home`` or ``zdm_cassandra_classpath`` (one installation for both clusters).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision.java import JavaRuntime, java_for
from pytest_zdm.provision.tools import (
    Progress,
    cache_lock,
    last_error_line,
    maven_copy,
    read_marker,
    require_tool,
)
from pytest_zdm.settings import Settings


@dataclass(frozen=True)
class CassandraArtifact:
    """A Cassandra classpath that was checked to load (``GetVersion`` printed ``version``) with ``java``."""

    version: str
    jars: tuple[Path, ...]
    source: str
    java: JavaRuntime | None = None

    @property
    def java_path(self) -> str:
        """The java executable nodes of this release are started with."""
        if self.java is not None:
            return self.java.java
        return require_tool("java", "the local target runs Cassandra on Java 11 or 17")

    @property
    def classpath(self) -> str:
        """The jars joined for ``java -cp``."""
        return os.pathsep.join(str(j) for j in self.jars)


def check_cassandra_classpath(
    jars: tuple[Path, ...], source: str, java: JavaRuntime | None = None
) -> CassandraArtifact:
    """Prove the classpath loads Cassandra: run ``org.apache.cassandra.tools.GetVersion`` with it."""
    if java is not None:
        java_path = java.java
    else:
        java_path = require_tool("java", "the local target runs Cassandra on Java 11 or 17")
    if not any(j.name.startswith("cassandra-all") or j.name.startswith("apache-cassandra") for j in jars):
        raise ProvisionError(f"{source}: no cassandra-all / apache-cassandra jar among {len(jars)} jars")
    classpath = os.pathsep.join(str(j) for j in jars)
    try:
        proc = subprocess.run(
            [java_path, "-cp", classpath, "org.apache.cassandra.tools.GetVersion"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise ProvisionError(f"{source}: GetVersion did not finish in 60s") from None
    version = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not re.fullmatch(r"\d+\.\d+[\w.\-]*", version):
        raise ProvisionError(f"{source}: classpath does not load Cassandra: {last_error_line(proc.stderr)}")
    return CassandraArtifact(version=version, jars=jars, source=source, java=java)


def _jars_in(directory: Path) -> tuple[Path, ...]:
    return tuple(sorted(directory.glob("*.jar")))


def provision_cassandra(
    settings: Settings, progress: Progress, version: str | None = None
) -> CassandraArtifact:
    """Return a verified Cassandra classpath and its Java, fetching the jars with mvn on first use.

    ``version`` defaults to ``zdm_cassandra_version``; the local target asks for each cluster's.
    """
    if settings.zdm_cassandra_home is not None or settings.zdm_cassandra_classpath is not None:
        return _user_installation(settings, progress)
    version = version or settings.zdm_cassandra_version
    java = java_for(version, settings, progress)
    home = settings.zdm_cache_dir / "cassandra" / version
    marker = home / "provisioned.json"
    cached = read_marker(marker)
    if cached is not None:
        jars = tuple(home / "lib" / name for name in cached["jars"])
        if all(j.is_file() for j in jars):
            return CassandraArtifact(version=cached["version"], jars=jars, source=f"cache {home}", java=java)
    with cache_lock(home.with_suffix(".lock"), f"Cassandra {version}", progress):
        cached = read_marker(marker)
        if cached is None:
            _fetch_cassandra(version, home, progress)
        artifact = check_cassandra_classpath(
            _jars_in(home / "lib"), f"Cassandra {version} jars in {home}", java
        )
        if artifact.version != version:
            raise ProvisionError(
                f"Cassandra jars in {home} report version {artifact.version}, expected {version}"
            )
        marker.write_text(json.dumps({"version": version, "jars": [j.name for j in artifact.jars]}))
        progress(f"Cassandra {version}: {len(artifact.jars)} jars verified with {java} in {home}")
        return CassandraArtifact(version=version, jars=artifact.jars, source=f"cache {home}", java=java)


def _user_installation(settings: Settings, progress: Progress) -> CassandraArtifact:
    """``zdm_cassandra_home`` / ``zdm_cassandra_classpath``: checked with the Java of the release it holds."""
    if settings.zdm_cassandra_home is not None:
        jars = _jars_in(settings.zdm_cassandra_home / "lib")
        source = f"zdm_cassandra_home {settings.zdm_cassandra_home}"
    else:
        assert settings.zdm_cassandra_classpath is not None
        jars = _jars_in(settings.zdm_cassandra_classpath)
        source = f"zdm_cassandra_classpath {settings.zdm_cassandra_classpath}"
    found = check_cassandra_classpath(jars, source)  # GetVersion runs on any Java 11 or 17
    return check_cassandra_classpath(jars, source, java_for(found.version, settings, progress))


def _fetch_cassandra(version: str, home: Path, progress: Progress) -> None:
    mvn = require_tool("mvn", "the local target fetches Cassandra's jars from Maven Central with Maven")
    require_tool("java", "the local target runs Cassandra on Java 11 or 17")
    home.mkdir(parents=True, exist_ok=True)
    staging = home / "lib.partial"
    progress(
        f"fetching Apache Cassandra {version} jars from Maven Central with mvn into {home} (about a minute)"
    )
    log = home / "mvn.log"
    error = maven_copy(mvn, ("org.apache.cassandra", "cassandra-all", version), staging, log)
    if error is not None:
        raise ProvisionError(
            f"Cassandra {version}: mvn dependency:copy-dependencies failed ({error}) (log: {log})"
        )
    final = home / "lib"
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
