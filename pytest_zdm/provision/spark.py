"""The Spark Cassandra Connector's jars for the Spark consistency engine: fetched with ``mvn``, cached.

Only the Spark engine asks for them, so nothing Spark-related is downloaded for a run that does not use
it. The connector's single assembly jar (``spark-cassandra-connector-assembly_2.12``) is tried first. Some
Maven mirrors serve the connector but not its assembly (this project's build machines answer
``Could not find artifact ...assembly_2.12:jar:3.5.1``); there the same classes come as the connector jar
and its runtime dependencies, less those every Spark 3.5 ships (Scala, SLF4J, Dropwizard metrics,
commons-lang3, paranamer), which is what the assembly bundles. Users who have the connector already point
at it with ``zdm_spark_connector_jars`` (a jar or a directory of jars).
"""

from __future__ import annotations

import json
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.errors import ProvisionError
from pytest_zdm.provision.tools import Progress, cache_lock, maven_copy, read_marker, require_tool
from pytest_zdm.settings import Settings

GROUP = "com.datastax.spark"
ASSEMBLY = "spark-cassandra-connector-assembly_2.12"
CONNECTOR = "spark-cassandra-connector_2.12"
#: A class only the connector has: a jar set without it is not the connector.
PROBE_CLASS = "com/datastax/spark/connector/datasource/CassandraCatalog.class"
#: Group ids whose jars Spark 3.5 already ships: left out, as the assembly leaves them out.
SPARK_PROVIDES = ("org.scala-lang", "org.slf4j", "io.dropwizard.metrics", "org.apache.commons",
                  "com.thoughtworks.paranamer")  # fmt: skip


@dataclass(frozen=True)
class ConnectorArtifact:
    """Jars that hold the Spark Cassandra Connector, for ``spark.jars``."""

    version: str
    jars: tuple[Path, ...]
    source: str

    @property
    def spark_jars(self) -> str:
        """The jars as Spark's ``spark.jars`` takes them (comma-separated)."""
        return ",".join(str(j) for j in self.jars)


def check_connector_jars(jars: tuple[Path, ...], source: str, version: str = "") -> ConnectorArtifact:
    """Prove the jars hold the connector (its catalog class is in one of them); one line if not."""
    if not jars:
        raise ProvisionError(f"{source}: no .jar files")
    for jar in jars:
        try:
            with zipfile.ZipFile(jar) as archive:
                if PROBE_CLASS in archive.namelist():
                    return ConnectorArtifact(version=version or _version_of(jar), jars=jars, source=source)
        except (OSError, zipfile.BadZipFile) as exc:
            raise ProvisionError(f"{source}: {jar.name} is not a readable jar ({exc})") from None
    raise ProvisionError(
        f"{source}: none of {len(jars)} jars holds the Spark Cassandra Connector ({PROBE_CLASS} not found)"
    )


def _version_of(jar: Path) -> str:
    stem = jar.stem
    return stem.rsplit("-", 1)[-1] if "-" in stem else "unknown"


def _jars_at(path: Path) -> tuple[Path, ...]:
    return tuple(sorted(path.glob("*.jar"))) if path.is_dir() else (path,)


def provision_spark_connector(settings: Settings, progress: Progress) -> ConnectorArtifact:
    """The connector's jars: the user's (``zdm_spark_connector_jars``) or the cached ones, fetched once."""
    if settings.zdm_spark_connector_jars is not None:
        path = settings.zdm_spark_connector_jars
        return check_connector_jars(_jars_at(path), f"zdm_spark_connector_jars {path}")
    version = settings.zdm_spark_connector_version
    home = settings.zdm_cache_dir / "spark-connector" / version
    marker = home / "provisioned.json"
    cached = read_marker(marker)
    if cached is not None:
        jars = tuple(home / "lib" / name for name in cached["jars"])
        if all(j.is_file() for j in jars):
            return ConnectorArtifact(version, jars, f"cache {home} ({cached['how']})")
    with cache_lock(home.with_suffix(".lock"), f"Spark Cassandra Connector {version}", progress):
        cached = read_marker(marker)
        how = cached["how"] if cached else _fetch(version, home, progress)
        artifact = check_connector_jars(_jars_at(home / "lib"), f"connector jars in {home}", version)
        names = [j.name for j in artifact.jars]
        marker.write_text(json.dumps({"version": version, "how": how, "jars": names}))
        progress(f"Spark Cassandra Connector {version}: {len(artifact.jars)} jars ({how}) in {home}")
        return ConnectorArtifact(version, artifact.jars, f"cache {home} ({how})")


def _fetch(version: str, home: Path, progress: Progress) -> str:
    """Fetch into ``home/lib`` (staged, renamed last); returns how: the assembly or the connector's jars."""
    mvn = require_tool("mvn", "the Spark engine fetches the Spark Cassandra Connector with Maven")
    home.mkdir(parents=True, exist_ok=True)
    staging = home / "lib.partial"
    progress(f"fetching the Spark Cassandra Connector {version} ({GROUP}:{ASSEMBLY}) with mvn into {home}")
    assembly_error = _copy(mvn, home, staging, ASSEMBLY, version, transitive=False)
    how = f"{ASSEMBLY} {version}"
    if assembly_error is not None:
        progress(f"{ASSEMBLY} {version} not served ({assembly_error}); fetching {CONNECTOR} and its jars")
        error = _copy(mvn, home, staging, CONNECTOR, version, transitive=True)
        if error is not None:
            raise ProvisionError(
                f"Spark Cassandra Connector {version}: mvn could fetch neither {ASSEMBLY} ({assembly_error}) "
                f"nor {CONNECTOR} ({error}); logs in {home}"
            )
        how = f"{CONNECTOR} {version} and its runtime dependencies"
    final = home / "lib"
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    return how


def _copy(
    mvn: str, home: Path, staging: Path, artifact: str, version: str, *, transitive: bool
) -> str | None:
    """``mvn dependency:copy-dependencies`` of one artifact into ``staging``; None or the error line."""
    return maven_copy(mvn, (GROUP, artifact, version), staging, home / f"{artifact}.mvn.log",
                      exclude_groups=SPARK_PROVIDES, transitive=transitive, timeout=900)  # fmt: skip
