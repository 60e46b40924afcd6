"""The kind and kube targets' settings: where the clusters and the proxy are, and how to log in to them.

Part of the one settings table (:data:`pytest_zdm.settings.options.OPTIONS`), kept apart for its size.
"""

from __future__ import annotations

from pytest_zdm.settings import values
from pytest_zdm.settings.option import Option

KUBE_OPTIONS: tuple[Option, ...] = (
    Option(
        "zdm_kube_context",
        "kubeconfig context of the kube target (default: the kubeconfig's current context)",
        values.text,
    ),
    Option(
        "zdm_kind_cluster",
        "name of the kind cluster of the kind target; its context is kind-<name>",
        values.k8s_name,
        lambda _: "kind",
    ),
    Option(
        "zdm_kubeconfig",
        "kubeconfig file of the kind and kube targets (default: KUBECONFIG, else ~/.kube/config)",
        values.existing_file,
    ),
    Option(
        "zdm_kubectl",
        "the kubectl that runs the port-forwards of the kind and kube targets",
        values.text,
        lambda _: "kubectl",
    ),
    Option(
        "zdm_kube_namespace",
        "namespace of the Cassandra services and the proxy (kind and kube targets)",
        values.k8s_name,
        lambda _: "default",
    ),
    Option(
        "zdm_kube_origin_service",
        "Service of the origin Cassandra cluster (kind and kube targets)",
        values.k8s_name,
        lambda _: "cassandra-origin",
    ),
    Option(
        "zdm_kube_target_service",
        "Service of the target Cassandra cluster (kind and kube targets)",
        values.k8s_name,
        lambda _: "cassandra-target",
    ),
    Option(
        "zdm_kube_cql_port",
        "CQL port of the origin and target Services (kind and kube targets)",
        values.port,
        lambda _: 9042,
    ),
    Option(
        "zdm_kube_proxy_service",
        "Service of zdm-proxy (kind and kube targets)",
        values.k8s_name,
        lambda _: "zdm-proxy",
    ),
    Option(
        "zdm_kube_proxy_port",
        "CQL port of the zdm-proxy Service (kind and kube targets)",
        values.port,
        lambda _: 9042,
    ),
    Option(
        "zdm_kube_proxy_metrics_port",
        "health/metrics port of the zdm-proxy Service (kind and kube targets)",
        values.port,
        lambda _: 14001,
    ),
    Option(
        "zdm_kube_proxy_selector",
        "label selector of the zdm-proxy pods, watched for restarts and CrashLoopBackOff (kind and kube "
        "targets)",
        values.selector,
        lambda _: "app=zdm-proxy",
    ),
    Option(
        "zdm_kube_proxy_deployment",
        "Deployment of zdm-proxy whose environment (env, envFrom ConfigMaps) the configuration lint reads "
        "(kind and kube targets)",
        values.k8s_name,
        lambda _: "zdm-proxy",
    ),
    Option(
        "zdm_kube_forward_timeout",
        "seconds kubectl port-forward may take to report its local port, and a probe of it to answer",
        values.seconds,
        lambda _: 30.0,
    ),
    Option(
        "zdm_origin_username",
        "username of the origin cluster (kind and kube targets; the local target uses its own)",
        values.text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_ORIGIN_USERNAME",
    ),
    Option(
        "zdm_origin_password_file",
        "a file holding the origin cluster's password (e.g. a mounted Kubernetes Secret); the environment "
        "variable PYTEST_ZDM_ORIGIN_PASSWORD wins over it",
        values.existing_file,
        env="PYTEST_ZDM_ORIGIN_PASSWORD_FILE",
    ),
    Option(
        "zdm_origin_password",
        "password of the origin cluster (kind and kube targets): from this environment variable or "
        "zdm_origin_password_file only, never a command-line or ini value; never printed or written",
        values.any_text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_ORIGIN_PASSWORD",
        secret=True,
    ),
    Option(
        "zdm_target_username",
        "username of the target cluster, also the login through the proxy (kind and kube targets)",
        values.text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_TARGET_USERNAME",
    ),
    Option(
        "zdm_target_password_file",
        "a file holding the target cluster's password; the environment variable PYTEST_ZDM_TARGET_PASSWORD "
        "wins over it",
        values.existing_file,
        env="PYTEST_ZDM_TARGET_PASSWORD_FILE",
    ),
    Option(
        "zdm_target_password",
        "password of the target cluster, also the login through the proxy (kind and kube targets): from "
        "this environment variable or zdm_target_password_file only, never a command-line or ini value; "
        "never printed or written",
        values.any_text,
        lambda _: "cassandra",
        env="PYTEST_ZDM_TARGET_PASSWORD",
        secret=True,
    ),
)
