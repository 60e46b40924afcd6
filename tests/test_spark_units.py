"""The Spark engine's parts that need no Spark: settings, session settings, key conversion, jars, laziness."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import uuid
import zipfile
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_zdm.consistency.spark_engine import connector_options
from pytest_zdm.consistency.spark_keys import driver_value
from pytest_zdm.consistency.spark_session import is_local, session_conf, split_secrets
from pytest_zdm.cql.session import cluster_parameters
from pytest_zdm.errors import ProvisionError, SettingError
from pytest_zdm.model import CqlEndpoint, Credentials
from pytest_zdm.provision.spark import PROBE_CLASS, ConnectorArtifact, check_connector_jars
from pytest_zdm.settings import resolve


def _settings(cli=None, ini=None, environ=None):
    return resolve(cli=cli or {}, ini=ini or {}, environ=environ or {}, rootdir=Path.cwd())


def test_engine_setting_defaults_to_python_and_names_the_choices():
    assert _settings().zdm_compare_engine == "python"
    assert _settings(environ={"PYTEST_ZDM_COMPARE_ENGINE": "spark"}).zdm_compare_engine == "spark"
    expected = r"^zdm_compare_engine: expected one of python, spark, got 'flink'$"
    with pytest.raises(SettingError, match=expected):
        _settings(cli={"zdm_compare_engine": "flink"})


def test_spark_settings_refuse_secrets_outside_the_environment():
    conf = "spark.executor.memory=4g,spark.cassandra.auth.password=hunter2"
    for layer in ("cli", "ini"):
        with pytest.raises(SettingError, match=r"spark\.cassandra\.auth\.password holds a secret") as caught:
            _settings(**{layer: {"zdm_spark_conf": conf}})
        assert "hunter2" not in str(caught.value)
    assert _settings(environ={"PYTEST_ZDM_SPARK_CONF": conf}).zdm_spark_conf["spark.executor.memory"] == "4g"
    assert _settings().zdm_spark_master == "local[2]"


def _connector() -> ConnectorArtifact:
    return ConnectorArtifact("3.5.1", (Path("/c/a.jar"), Path("/c/b.jar")), "test")


def test_a_local_session_stays_on_loopback_and_a_cluster_session_is_left_to_spark():
    assert is_local("local") and is_local("local[2]") and is_local("local[*]") and is_local("local[4, 2]")
    assert not is_local("spark://10.0.0.5:7077") and not is_local("yarn") and not is_local("k8s://https://x")
    local = session_conf("local[2]", _connector(), {"spark.driver.memory": "2g"})
    assert local["spark.driver.bindAddress"] == local["spark.driver.host"] == "127.0.0.1"
    assert local["spark.ui.enabled"] == "false" and local["spark.driver.memory"] == "2g"
    assert local["spark.jars"] == "/c/a.jar,/c/b.jar"
    assert local["spark.sql.extensions"] == "com.datastax.spark.connector.CassandraSparkExtensions"
    public, secret = split_secrets({**local, "spark.cassandra.auth.password": "x", "spark.a.secret.key": "y"})
    assert secret == {"spark.cassandra.auth.password": "x", "spark.a.secret.key": "y"} and public == local
    remote = session_conf("spark://spark-master:7077", _connector(), {})
    assert "spark.driver.bindAddress" not in remote and "spark.ui.enabled" not in remote
    assert remote["spark.master"] == "spark://spark-master:7077"


def test_keys_from_spark_become_what_the_driver_binds():
    u = uuid.uuid4()
    assert driver_value("uuid", str(u)) == u and driver_value("timeuuid", str(u)) == u
    assert driver_value("varint", Decimal("12345678901234567890")) == 12345678901234567890
    assert driver_value("blob", bytearray(b"\x00\x01")) == b"\x00\x01"
    assert driver_value("frozen<blob>", bytearray(b"\x02")) == b"\x02"
    naive_local = dt.datetime(2026, 1, 2, 3, 4, 5, 678000)
    as_utc = driver_value("timestamp", naive_local)
    assert as_utc.tzinfo is dt.timezone.utc and as_utc.timestamp() == naive_local.timestamp()
    assert driver_value("text", "x") == "x" and driver_value("int", None) is None


def test_connector_options_come_from_the_driver_session():
    endpoint = CqlEndpoint("127.0.0.9", 19042, "dc-west")
    cluster_kwargs = cluster_parameters(endpoint, Credentials("reader", "s3cret"))
    from cassandra.cluster import Cluster

    cluster = Cluster(**cluster_kwargs)
    try:
        options = connector_options(SimpleNamespace(cluster=cluster))
    finally:
        cluster.shutdown()
    assert options == {
        "spark.cassandra.connection.host": "127.0.0.9",
        "spark.cassandra.connection.port": "19042",
        "spark.cassandra.connection.localDC": "dc-west",
        "spark.cassandra.auth.username": "reader",
        "spark.cassandra.auth.password": "s3cret",
    }


def test_connector_jars_are_checked_for_the_connector(tmp_path):
    other = tmp_path / "other.jar"
    with zipfile.ZipFile(other, "w") as jar:
        jar.writestr("org/example/Thing.class", b"")
    with pytest.raises(ProvisionError, match="none of 1 jars holds the Spark Cassandra Connector"):
        check_connector_jars((other,), "mine")
    real = tmp_path / "spark-cassandra-connector-assembly_2.12-3.5.1.jar"
    with zipfile.ZipFile(real, "w") as jar:
        jar.writestr(PROBE_CLASS, b"")
    assert check_connector_jars((other, real), "mine").version == "3.5.1"
    (tmp_path / "broken.jar").write_text("not a zip")
    with pytest.raises(ProvisionError, match=r"broken\.jar is not a readable jar"):
        check_connector_jars((tmp_path / "broken.jar",), "mine")


def test_nothing_spark_is_imported_unless_the_spark_engine_is_asked_for():
    code = (
        "import sys, pytest_zdm.plugin, pytest_zdm.consistency, pytest_zdm.cli.main; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pyspark', 'py4j')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
