"""The few Kubernetes API calls the kind and kube targets make, with one-line errors naming a setting.

Reads (Services, pods, the proxy's Deployment, ConfigMaps, Secret keys, logs) and, for the node and proxy
controls, the few writes they need: delete a pod, scale the workload that owns one, run a command in a
container (``exec``). Thin on purpose: everything that interprets what comes back lives in
:mod:`pytest_zdm.targets.kube.resources`, the controls in :mod:`pytest_zdm.targets.kube.controls`. Every
call is bounded by a request timeout and made without urllib3's retries, so an unreachable API server is
reported within that time.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import urllib3
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from kubernetes.stream import stream
from websocket import WebSocketException

from pytest_zdm import inputs
from pytest_zdm.errors import SettingError, StartupError

T = TypeVar("T")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def kubeconfig_files(kubeconfig: Path | None) -> str:
    """The kubeconfig path(s): the setting, else ``KUBECONFIG`` (may list several), else the default."""
    if kubeconfig is not None:
        return str(kubeconfig)
    return os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")


#: What the kubernetes client may raise on a broken kubeconfig (it does not wrap its YAML or key errors).
_CONFIG_ERRORS = (ConfigException, OSError, ValueError, TypeError, AttributeError, KeyError, yaml.YAMLError)


def check_kubeconfig(kubeconfig: Path | None) -> str:
    """The kubeconfig file(s), each read with bounds and checked to be a YAML mapping, before the client.

    The kubernetes client reads a kubeconfig without bounds (an alias bomb) and reports a broken one as a
    traceback of its own; checked here, either is one line naming the setting.
    """
    files = kubeconfig_files(kubeconfig)
    for name in files.split(os.pathsep):
        path = Path(name)
        if not name or not path.exists():
            continue
        try:
            documents = inputs.yaml_documents(inputs.read_text(path, what="a kubeconfig"), source=path)
        except inputs.InputError as exc:
            raise SettingError(f"zdm_kubeconfig: {exc}; expected a kubeconfig file") from None
        if len(documents) != 1 or not isinstance(documents[0], dict):
            raise SettingError(
                f"zdm_kubeconfig: {path} is not a kubeconfig; expected a YAML mapping with clusters, "
                "contexts and users"
            )
    return files


def resolve_context(kubeconfig: Path | None, context: str | None, *, setting: str, hint: str = "") -> str:
    """The context to use: ``context`` checked to exist, or the kubeconfig's current one.

    ``setting`` is the setting named in errors (``zdm_kube_context``, or ``zdm_kind_cluster`` whose context
    is ``kind-<name>``); ``hint`` is appended to the missing-context error.
    """
    files = check_kubeconfig(kubeconfig)
    try:
        contexts, active = config.list_kube_config_contexts(config_file=files)  # type: ignore[no-untyped-call]
    except _CONFIG_ERRORS as exc:
        raise SettingError(
            f"zdm_kubeconfig: no usable kubeconfig at {files} ({_first_line(exc)}); expected a kubeconfig "
            "file (set zdm_kubeconfig or KUBECONFIG)"
        ) from None
    if not isinstance(contexts, list) or not all(isinstance(item, dict) for item in contexts):
        raise SettingError(f"zdm_kubeconfig: {files} has no usable contexts list; expected a kubeconfig file")
    names = [str(item.get("name")) for item in contexts]
    if context is None:
        if not isinstance(active, dict) or "name" not in active:
            raise SettingError(f"{setting}: the kubeconfig {files} has no current context; set {setting}")
        return str(active["name"])
    if context not in names:
        shown = ", ".join(names) or "none"
        raise SettingError(
            f"{setting}: no context {context!r} in the kubeconfig {files} (its contexts: {shown}){hint}"
        )
    return context


class KubeApi:
    """Reads in one namespace of one context; errors are one line naming the setting concerned."""

    def __init__(
        self, kubeconfig: Path | None, context: str, namespace: str, *, context_setting: str, timeout: float
    ) -> None:
        self.context = context
        self.namespace = namespace
        self.context_setting = context_setting
        self.timeout = timeout
        configuration = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig_files(kubeconfig),
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
        except _CONFIG_ERRORS as exc:
            raise SettingError(
                f"{context_setting}: context {context!r} cannot be used: {_first_line(exc)}"
            ) from None
        configuration.retries = False  # fail at once; the caller's deadline decides about retrying
        self.server = str(configuration.host)
        self._client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self._client)
        self.apps = client.AppsV1Api(self._client)

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()  # type: ignore[no-untyped-call]

    def _call(self, setting: str, what: str, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return call(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                raise SettingError(
                    f"{setting}: {what} not found in namespace {self.namespace!r} of context {self.context!r}"
                ) from None
            raise StartupError(
                f"{setting}: reading {what} from the API server {self.server} failed: "
                f"{exc.status} {exc.reason}"
            ) from None
        except urllib3.exceptions.HTTPError as exc:
            raise StartupError(
                f"{self.context_setting}: no answer from the API server {self.server} of context "
                f"{self.context!r} (within {self.timeout:.0f}s): {_first_line(exc)[:200]}"
            ) from None

    def service(self, name: str, setting: str) -> client.V1Service:
        """The Service ``name``."""
        return self._call(
            setting, f"Service {name!r}", self.core.read_namespaced_service, name, self.namespace
        )

    def pods(self, selector: str, setting: str) -> list[client.V1Pod]:
        """Pods matching a label selector."""
        found = self._call(
            setting,
            f"pods {selector}",
            self.core.list_namespaced_pod,
            self.namespace,
            label_selector=selector,
        )
        return list(found.items or [])

    def deployment(self, name: str, setting: str) -> client.V1Deployment:
        """The Deployment ``name``."""
        return self._call(
            setting, f"Deployment {name!r}", self.apps.read_namespaced_deployment, name, self.namespace
        )

    def config_map(self, name: str, setting: str) -> client.V1ConfigMap | None:
        """The ConfigMap ``name``, or None when it does not exist."""
        try:
            return self._call(
                setting, f"ConfigMap {name!r}", self.core.read_namespaced_config_map, name, self.namespace
            )
        except SettingError:
            return None

    def secret_keys(self, name: str, setting: str) -> list[str] | None:
        """The keys of the Secret ``name`` (never its values), or None when it is missing or not readable."""
        try:
            secret = self._call(
                setting, f"Secret {name!r}", self.core.read_namespaced_secret, name, self.namespace
            )
        except (SettingError, StartupError):
            return None
        keys = [*(secret.data or {}), *(secret.string_data or {})]
        del secret  # the values go no further than this line
        return keys

    def pod_log(
        self,
        pod: str,
        container: str | None,
        setting: str,
        *,
        tail_lines: int | None = None,
        limit_bytes: int | None = None,
    ) -> str:
        """A pod container's log: its last ``tail_lines`` lines, or its first ``limit_bytes`` bytes."""
        options: dict[str, Any] = {"container": container}
        if tail_lines is not None:
            options["tail_lines"] = tail_lines
        if limit_bytes is not None:
            options["limit_bytes"] = limit_bytes
        text = self._call(
            setting,
            f"the log of pod {pod!r}",
            self.core.read_namespaced_pod_log,
            pod,
            self.namespace,
            **options,
        )
        return str(text)

    def delete_pod(self, name: str, setting: str, *, grace_seconds: int | None = None) -> None:
        """Delete a pod (its controller replaces it); ``grace_seconds=0`` kills its containers at once."""
        options: dict[str, Any] = {}
        if grace_seconds is not None:
            options["grace_period_seconds"] = grace_seconds
        self._call(setting, f"pod {name!r}", self.core.delete_namespaced_pod, name, self.namespace, **options)

    def owner(self, pod: client.V1Pod, setting: str) -> tuple[str, str]:
        """The StatefulSet or Deployment that owns ``pod`` (through its ReplicaSet), as (kind, name)."""
        for ref in (pod.metadata.owner_references if pod.metadata else None) or []:
            if ref.kind == "StatefulSet":
                return "StatefulSet", str(ref.name)
            if ref.kind == "ReplicaSet":
                replica_set = self._call(
                    setting, f"ReplicaSet {ref.name!r}", self.apps.read_namespaced_replica_set, ref.name,
                    self.namespace,
                )  # fmt: skip
                for up in (replica_set.metadata.owner_references if replica_set.metadata else None) or []:
                    if up.kind == "Deployment":
                        return "Deployment", str(up.name)
        name = pod.metadata.name if pod.metadata else "?"
        raise SettingError(
            f"{setting}: pod {name!r} belongs to no StatefulSet or Deployment, so it cannot be taken down "
            "and brought back by scaling"
        )

    def replicas(self, kind: str, name: str, setting: str) -> int:
        """The replicas a StatefulSet or Deployment asks for."""
        read = (
            self.apps.read_namespaced_stateful_set_scale
            if kind == "StatefulSet"
            else self.apps.read_namespaced_deployment_scale
        )
        scale = self._call(setting, f"{kind} {name!r}", read, name, self.namespace)
        return int(scale.spec.replicas or 0) if scale.spec else 0

    def scale(self, kind: str, name: str, replicas: int, setting: str) -> None:
        """Set the replicas of a StatefulSet or Deployment (its scale subresource)."""
        patch = (
            self.apps.patch_namespaced_stateful_set_scale
            if kind == "StatefulSet"
            else self.apps.patch_namespaced_deployment_scale
        )
        self._call(setting, f"{kind} {name!r}", patch, name, self.namespace, {"spec": {"replicas": replicas}})

    def patch_deployment(self, name: str, patch: list[dict[str, Any]], setting: str) -> None:
        """Apply a JSON patch (RFC 6902) to the Deployment ``name``; its controller rolls the pods."""
        self._call(
            setting,
            f"Deployment {name!r}",
            self.apps.patch_namespaced_deployment,
            name,
            self.namespace,
            patch,
        )

    def exec(self, pod: str, container: str | None, command: list[str], setting: str) -> tuple[int, str]:
        """Run ``command`` in a container (``kubectl exec``); returns its exit code and its output."""
        try:
            response = stream(
                self.core.connect_get_namespaced_pod_exec, pod, self.namespace, container=container,
                command=command, stderr=True, stdin=False, stdout=True, tty=False, _preload_content=False,
                _request_timeout=self.timeout,
            )  # fmt: skip
            try:
                response.run_forever(timeout=self.timeout)
                output = response.read_stdout() + response.read_stderr()
                code = response.returncode
            finally:
                response.close()
        except ApiException as exc:
            raise StartupError(f"{setting}: exec in pod {pod!r} failed: {exc.status} {exc.reason}") from None
        except (WebSocketException, OSError, urllib3.exceptions.HTTPError) as exc:
            raise StartupError(f"{setting}: exec in pod {pod!r} failed: {_first_line(exc)[:200]}") from None
        return (-1 if code is None else int(code)), str(output)
