"""A SparkSession for the Spark engine: yours, or one started here with the Spark Cassandra Connector.

Started here, Spark's JVM is launched by PySpark (``spark-submit`` under the hood) with the connector's
jars and its SQL extensions (``writetime()`` / ``ttl()``). On ``local[N]`` it is kept on loopback (driver
and block manager bound to 127.0.0.1, no web UI); on any other master URL Spark's own configuration
(``spark-defaults.conf``, ``zdm_spark_conf``) decides. Its output goes to a log file, not the terminal.
The JVM dies with this process (PySpark's gateway exits when its stdin pipe closes) and is stopped by its
PID when the session is closed, so no JVM outlives a run.

pyspark is an optional dependency (``pip install 'pytest-zdm[spark]'``): it is imported only here, when
the Spark engine is asked for.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pytest_zdm.errors import ZdmError
from pytest_zdm.provision.spark import ConnectorArtifact
from pytest_zdm.settings.resolve import SPARK_SECRET_NAME

EXTENSIONS = "com.datastax.spark.connector.CassandraSparkExtensions"
CATALOG_CLASS = "com.datastax.spark.connector.datasource.CassandraCatalog"
_LOCAL = re.compile(r"local(\[(\d+|\*)(,\s*\d+)?\])?$")
_STOP_TIMEOUT = 30.0
_lock = threading.Lock()

Progress = Callable[[str], None]


def require_pyspark() -> Any:
    """The pyspark module, or a one-line error saying how to install it."""
    try:
        import pyspark
    except ImportError as exc:
        raise ZdmError(
            f"the spark engine needs pyspark 3.5 ({exc}): pip install 'pytest-zdm[spark]'"
        ) from None
    if not str(pyspark.__version__).startswith("3.5."):
        raise ZdmError(
            f"the spark engine needs pyspark 3.5 (the Spark Cassandra Connector 3.5 is built for Spark 3.5), "
            f"found pyspark {pyspark.__version__}: pip install 'pytest-zdm[spark]'"
        )
    return pyspark


def is_local(master: str) -> bool:
    """Whether ``master`` runs Spark inside this machine's driver JVM (``local``, ``local[N]``)."""
    return bool(_LOCAL.match(master.strip()))


def session_conf(master: str, connector: ConnectorArtifact, extra: Mapping[str, str]) -> dict[str, str]:
    """The Spark settings of a session started here (plain data, so it can be tested)."""
    conf = {
        "spark.master": master,
        "spark.app.name": "pytest-zdm consistency",
        "spark.jars": connector.spark_jars,
        "spark.sql.extensions": EXTENSIONS,
        # Adaptive execution coalesces the shuffle of the per-bucket digests into a few partitions.
        "spark.sql.adaptive.enabled": "true",
    }
    if is_local(master):
        conf.update(
            {
                "spark.ui.enabled": "false",
                "spark.driver.host": "127.0.0.1",
                "spark.driver.bindAddress": "127.0.0.1",
                "spark.sql.shuffle.partitions": "8",
            }
        )
    conf.update(extra)
    return conf


def split_secrets(conf: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Settings for spark-submit's command line, and the secret ones, set on the running session instead.

    A command line can be read by anyone in ``ps``; the connector reads its settings from the session too.
    """
    secret = {k: v for k, v in conf.items() if SPARK_SECRET_NAME.search(k)}
    return {k: v for k, v in conf.items() if k not in secret}, secret


class SparkHandle:
    """A SparkSession started here: its JVM, its log, and :meth:`close` that stops both."""

    def __init__(self, session: Any, process: subprocess.Popen[bytes] | None, log: Path) -> None:
        self.session = session
        self.process = process
        self.log = log

    @property
    def pid(self) -> int | None:
        """PID of the Spark JVM (``spark-submit`` execs into it)."""
        return self.process.pid if self.process else None

    def close(self) -> None:
        """Stop the SparkSession, then the JVM by its PID (terminate, then kill after a bounded wait)."""
        from pyspark import SparkContext

        with _lock:
            try:
                self.session.stop()
            finally:
                gateway = SparkContext._gateway
                if gateway is not None:
                    gateway.shutdown()
                SparkContext._gateway = None
                SparkContext._jvm = None
                if self.process is not None and self.process.poll() is None:
                    if self.process.stdin:
                        self.process.stdin.close()  # the gateway's own way to exit
                    try:
                        self.process.wait(timeout=_STOP_TIMEOUT)
                    except subprocess.TimeoutExpired:
                        self.process.kill()
                        self.process.wait(timeout=_STOP_TIMEOUT)


def start_session(
    master: str,
    connector: ConnectorArtifact,
    *,
    conf: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    progress: Progress | None = None,
) -> SparkHandle:
    """Start Spark's JVM and a SparkSession with the connector; one line on failure, the log's path in it."""
    require_pyspark()
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway
    from pyspark.sql import SparkSession

    settings, secret = split_secrets(session_conf(master, connector, conf or {}))
    directory = Path(log_dir) if log_dir else Path(tempfile.gettempdir())
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"spark-{os.getpid()}-{threading.get_ident()}.log"
    if progress:
        progress(f"starting Spark ({master}) with the Cassandra connector {connector.version}; log {log}")
    spark_conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    saved = {k: os.environ.get(k) for k in ("SPARK_LOCAL_IP", "PYSPARK_SUBMIT_ARGS")}
    with _lock:
        if SparkContext._active_spark_context is not None:
            raise ZdmError(
                "a SparkSession is already running in this process: pass it as spark= (with the Spark "
                "Cassandra Connector and spark.sql.extensions=" + EXTENSIONS + ")"
            )
        try:
            if is_local(master):
                os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
            os.environ.pop("PYSPARK_SUBMIT_ARGS", None)
            with log.open("ab") as out:
                streams = {"stdout": out, "stderr": subprocess.STDOUT}
                gateway = launch_gateway(spark_conf, popen_kwargs=streams)  # type: ignore[no-untyped-call]
            context = SparkContext(conf=spark_conf, gateway=gateway)
        except Exception as exc:
            raise ZdmError(f"Spark did not start ({_first_line(exc)}); log: {log}") from None
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        context.setLogLevel("WARN")
        session = SparkSession(context)
        for key, value in secret.items():
            session.conf.set(key, value)
    return SparkHandle(session, gateway.proc, log)


@contextmanager
def spark_session(
    master: str,
    connector: ConnectorArtifact,
    *,
    conf: Mapping[str, str] | None = None,
    log_dir: Path | None = None,
    progress: Progress | None = None,
) -> Iterator[Any]:
    """A SparkSession with the connector for the ``with`` block; Spark's JVM is stopped at its end."""
    handle = start_session(master, connector, conf=conf, log_dir=log_dir, progress=progress)
    try:
        yield handle.session
    finally:
        handle.close()


@contextmanager
def default_spark(progress: Progress | None = None) -> Iterator[Any]:
    """A SparkSession from the settings in the environment, for library use without pytest.

    ``PYTEST_ZDM_SPARK_MASTER`` (default ``local[2]``), ``PYTEST_ZDM_SPARK_CONF``, and the connector from
    the artifact cache, fetched on first use.
    """
    from pytest_zdm.provision.spark import provision_spark_connector
    from pytest_zdm.settings import resolve

    settings = resolve(cli={}, ini={}, environ=os.environ, rootdir=Path.cwd())
    require_pyspark()
    connector = provision_spark_connector(settings, progress or (lambda _: None))
    with spark_session(
        settings.zdm_spark_master, connector, conf=settings.zdm_spark_conf, progress=progress
    ) as session:
        yield session


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:300]
