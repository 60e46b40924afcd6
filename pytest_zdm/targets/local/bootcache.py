"""Faster first boots: an AppCDS archive and template data directories per release, cached with its jars.

Where a fast-boot node's seconds go (measured, docs/benchmarks.md): JVM start-up and class loading from
~100 jars, then the first boot's own work: creating the system keyspaces, the auth tables and the default
superuser, flushing them. Both are the same for every run of a release, so both are done once:

- **AppCDS archive** (``app.jsa``): the classes a node loads up to a CQL login, listed by a real boot
  (``-XX:DumpLoadedClassList``) and dumped with ``java -Xshare:dump``, the static archive Java 11 and 17
  both support. Nodes map it with ``-XX:SharedArchiveFile`` (``-Xshare:auto``: a Java that cannot use it
  boots without it). The dump-time class path (the jars) must be a prefix of the node's: the node's
  ``conf`` directory goes after the jars.
- **Template data directories**, one per cluster name: the data directory of a node that booted once with
  the lab's configuration and was stopped cleanly (drained). A node whose data directory is empty gets a
  copy before it starts. A saved cluster name must match the configured one and the tokens saved must be
  the configured ones, so a template is keyed by everything that is stored: the cluster name (its
  directory name), the release, the Java, and the configuration (a digest of the yaml rendered without
  ports and paths, and of the JVM options and fast-boot properties). Ports and paths are not stored.

Built under the cache's file lock by booting real nodes side by side (about 20 s once per release); a
build that fails leaves no marker, so the next run boots without the cache and says why.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pytest_zdm.cql import wait_for_login
from pytest_zdm.errors import ProvisionError
from pytest_zdm.lab.cassandra import FAST_BOOT_PROPERTIES, SUPERUSER, NodeConfig, jvm_options, render_yaml
from pytest_zdm.model import CqlEndpoint, Progress
from pytest_zdm.provision import CassandraArtifact
from pytest_zdm.provision.tools import cache_lock, last_error_line, read_marker
from pytest_zdm.runtime.ports import LOOPBACK, release_ports, reserve_ports

_BUILD_TIMEOUT = 240.0


@dataclass(frozen=True)
class BootCache:
    """What a node of one release and configuration may start from."""

    directory: Path
    archive: Path | None
    templates: dict[str, Path]

    def template(self, cluster_name: str) -> Path | None:
        """The template data directory for ``cluster_name``, if one was built."""
        return self.templates.get(cluster_name)


def _digest(artifact: CassandraArtifact, heap: str) -> str:
    """What a template and the archive depend on, apart from the cluster name."""
    canonical = NodeConfig(
        "n", "@", LOOPBACK, 7000, 9042, Path("/d"), heap, fast_boot=True, version=artifact.version
    )
    java = artifact.java
    parts = [
        render_yaml(canonical),
        " ".join(jvm_options(java.major if java else 17)),
        json.dumps(FAST_BOOT_PROPERTIES, sort_keys=True),
        java.version if java else "PATH",
        artifact.version,
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


def cache_directory(artifact: CassandraArtifact, cache_dir: Path, heap: str) -> Path:
    """Where the boot cache of this release, Java and configuration lives (beside its jars)."""
    return cache_dir / "cassandra" / artifact.version / "boot" / _digest(artifact, heap)


def load(artifact: CassandraArtifact, cache_dir: Path, heap: str) -> BootCache | None:
    """The boot cache if built (a few stat calls), else None."""
    directory = cache_directory(artifact, cache_dir, heap)
    marker = read_marker(directory / "built.json")
    if marker is None:
        return None
    archive = directory / "app.jsa"
    templates = {
        name: directory / "templates" / name for name in marker.get("templates", [])
        if (directory / "templates" / name / "data").is_dir()
    }  # fmt: skip
    return BootCache(directory, archive if archive.is_file() else None, templates)


def ensure(
    artifact: CassandraArtifact,
    cluster_names: tuple[str, ...],
    *,
    cache_dir: Path,
    heap: str,
    progress: Progress,
) -> BootCache:
    """The boot cache with a template for each of ``cluster_names``, built first if anything is missing."""
    found = load(artifact, cache_dir, heap)
    if found is not None and found.archive is not None and all(n in found.templates for n in cluster_names):
        return found
    directory = cache_directory(artifact, cache_dir, heap)
    with cache_lock(
        directory.with_suffix(".lock"), f"the boot cache of Cassandra {artifact.version}", progress
    ):
        found = load(artifact, cache_dir, heap)
        have = dict(found.templates) if found else {}
        missing = tuple(n for n in cluster_names if n not in have)
        need_archive = found is None or found.archive is None
        if missing or need_archive:
            progress(
                f"preparing the boot cache of Cassandra {artifact.version} (once per release: a class-data "
                f"archive and template data directories for {', '.join(missing or cluster_names[:1])}) in "
                f"{directory}"
            )
            began = time.monotonic()
            _build(artifact, directory, missing or cluster_names[:1], archive=need_archive, heap=heap)
            have.update({n: directory / "templates" / n for n in missing})
            (directory / "built.json").write_text(json.dumps({"templates": sorted(have)}))
            progress(f"boot cache of Cassandra {artifact.version} ready in {time.monotonic() - began:.0f}s")
        loaded = load(artifact, cache_dir, heap)
        assert loaded is not None
        return loaded


def _build(
    artifact: CassandraArtifact, directory: Path, names: tuple[str, ...], *, archive: bool, heap: str
) -> None:
    from pytest_zdm.targets.local.node import CassandraNode  # node.py uses this module at launch

    work = directory / "work"
    shutil.rmtree(work, ignore_errors=True)
    nodes: list[CassandraNode] = []
    reserved: list[int] = []
    try:
        for index, name in enumerate(names):
            storage, native = reserve_ports(2)
            reserved += [storage, native]
            cfg = NodeConfig(
                f"template-{index}", name, LOOPBACK, storage, native, work / str(index), heap,
                fast_boot=True, version=artifact.version,
            )  # fmt: skip
            extra = [f"-XX:DumpLoadedClassList={work / f'classes-{index}.lst'}"] if archive else []
            node = CassandraNode(cfg, artifact, timeout=_BUILD_TIMEOUT, jvm_extra=extra)
            nodes.append(node)
            node.launch()
        for node in nodes:
            node.wait_ready()
            endpoint = CqlEndpoint(LOOPBACK, node.cfg.native_port, node.cfg.datacenter)
            error = wait_for_login(endpoint, SUPERUSER, timeout=_BUILD_TIMEOUT)
            if error is not None:
                raise ProvisionError(f"boot cache: a CQL login on a template node never worked: {error}")
        for node in nodes:
            node.stop(graceful=True)  # drains: memtables flushed, the data directory is consistent
        for name, node in zip(names, nodes, strict=True):
            staging = directory / "templates" / f"{name}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            shutil.copytree(
                node.cfg.directory / "data", staging / "data", ignore=shutil.ignore_patterns("saved_caches")
            )
            final = directory / "templates" / name
            shutil.rmtree(final, ignore_errors=True)
            staging.rename(final)
        if archive:
            _dump_archive(artifact, directory, sorted(work.glob("classes-*.lst")), heap)
    finally:
        for node in nodes:
            node.stop(graceful=False)
        release_ports(reserved)
        shutil.rmtree(work, ignore_errors=True)


def _dump_archive(artifact: CassandraArtifact, directory: Path, lists: list[Path], heap: str) -> None:
    """``java -Xshare:dump`` of the classes the template nodes loaded, for the jars' class path."""
    # One node's list: the nodes load the same classes, and Java 17's lists number their entries (two
    # lists merged would repeat numbers).
    text = lists[0].read_text(errors="replace") if lists else ""
    if not any(line and not line.startswith("#") for line in text.splitlines()):
        raise ProvisionError("boot cache: the template node listed no loaded class")
    listing = directory / "classes.lst"
    listing.write_text(text)
    staging = directory / "app.jsa.partial"
    java = artifact.java
    command = [
        artifact.java_path, "-Xshare:dump", f"-XX:SharedClassListFile={listing}",
        f"-XX:SharedArchiveFile={staging}", f"-Xms{heap}", f"-Xmx{heap}",
        *jvm_options(java.major if java else 17), "-cp", artifact.classpath,
    ]  # fmt: skip
    proc = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    (directory / "dump.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0 or not staging.is_file():
        raise ProvisionError(
            f"boot cache: java -Xshare:dump failed (exit {proc.returncode}): "
            f"{last_error_line(proc.stdout + proc.stderr)} (log: {directory / 'dump.log'})"
        )
    staging.replace(directory / "app.jsa")


def seed_data(cfg: NodeConfig, cache: BootCache | None) -> bool:
    """Copy the template for ``cfg.cluster_name`` into an empty data directory; True when it was copied."""
    if cache is None:
        return False
    template = cache.template(cfg.cluster_name)
    data = cfg.directory / "data"
    if template is None or (data.exists() and any(data.iterdir())):
        return False
    shutil.rmtree(data, ignore_errors=True)
    shutil.copytree(template / "data", data)
    return True
