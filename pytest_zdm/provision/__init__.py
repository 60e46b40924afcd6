"""Fetch, build and verify the real artifacts the framework's own environments run.

Cassandra comes from its Maven Central jars, zdm-proxy from the Go module proxy or a source the user
names, the Spark Cassandra Connector (only when the Spark engine is used) with mvn; all land in a cache
directory, verified, keyed by version or commit.
"""

from pytest_zdm.provision.cassandra import CassandraArtifact, check_cassandra_classpath, provision_cassandra
from pytest_zdm.provision.proxy import ProxyArtifact, check_proxy_binary, provision_proxy
from pytest_zdm.provision.spark import ConnectorArtifact, check_connector_jars, provision_spark_connector
from pytest_zdm.provision.tools import Progress, require_tool

__all__ = [
    "CassandraArtifact",
    "ConnectorArtifact",
    "Progress",
    "ProxyArtifact",
    "check_cassandra_classpath",
    "check_connector_jars",
    "check_proxy_binary",
    "provision_cassandra",
    "provision_proxy",
    "provision_spark_connector",
    "require_tool",
]
