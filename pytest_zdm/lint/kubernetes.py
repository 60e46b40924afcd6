"""zdm-proxy settings from Kubernetes manifests: workloads' container ``env`` and ``envFrom`` ConfigMaps.

Secret values are never read: they count as set, value not visible.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from pytest_zdm.errors import ZdmError
from pytest_zdm.lint.catalog import UNKNOWN_VALUE, Finding, _shown, is_secret
from pytest_zdm.lint.loaded import Loaded, _expected
from pytest_zdm.lint.rules import _lint, _relevant_name

_WORKLOADS: Final = frozenset(
    {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod", "CronJob"}
)


def _is_k8s_node(node: yaml.Node) -> bool:
    if not isinstance(node, yaml.MappingNode):
        return False
    keys = {key.value for key, _ in node.value if isinstance(key, yaml.ScalarNode)}
    return {"apiVersion", "kind"} <= keys


def _as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _pod_spec(doc: dict[str, Any]) -> dict[str, Any]:
    spec = _as_dict(doc.get("spec"))
    if doc.get("kind") == "Pod":
        return spec
    if doc.get("kind") == "CronJob":
        spec = _as_dict(_as_dict(spec.get("jobTemplate")).get("spec"))
    return _as_dict(_as_dict(spec.get("template")).get("spec"))


def _k8s_string(name: str, value: Any, where: str, findings: list[Finding]) -> str:
    """Env values and ConfigMap data must be strings; kubectl rejects numbers and booleans."""
    if isinstance(value, str):
        return value
    text = ("true" if value else "false") if isinstance(value, bool) else "" if value is None else str(value)
    if value is not None:
        findings.append(
            Finding(
                name,
                f"{where} value {_shown(name, text)} is not a string; Kubernetes rejects the manifest "
                f'(quote it: "{text if not is_secret(name) else "..."}")',
                "error",
            )
        )
    return text


def _documents(values: list[Any]) -> list[dict[str, Any]]:
    docs: list[dict[str, Any]] = []
    for doc in values:
        if isinstance(doc, dict) and doc.get("kind") == "List":
            docs.extend(_as_dict(item) for item in _as_list(doc.get("items")))
        elif isinstance(doc, dict):
            docs.append(doc)
    return docs


def _load_kubernetes(path: Path, values: list[Any]) -> Loaded:
    """Settings from manifests already read (bounded: :func:`pytest_zdm.inputs.yaml_construct`)."""
    loaded = _load_kubernetes_documents(_documents(values))
    if not loaded.settings:
        raise ZdmError(f"{_expected(path)}; these Kubernetes manifests set no ZDM_* variable")
    return loaded


def lint_kubernetes_objects(
    docs: Iterable[Mapping[str, Any]], *, phase: int | None = None
) -> tuple[dict[str, str], list[Finding]]:
    """The settings and findings of Kubernetes objects as the API server returns them (camelCase JSON).

    The same rules as for a manifest file (:func:`lint_file`): ``env`` over ``envFrom``, ``valueFrom`` and
    Secret keys counted as set without their values, ``--config`` detected. Used by the kind and kube targets
    with a live Deployment and the ConfigMaps and Secret keys its containers reference; ``envFrom`` sources
    missing from ``docs`` make required settings warnings instead of errors. Values of secret settings are
    never in a finding; the returned settings may hold them, so mask before showing them.
    """
    loaded = _load_kubernetes_documents([dict(doc) for doc in docs])
    linted = _lint(loaded.settings, phase=phase, kind=loaded.kind, hidden_sources=loaded.hidden_sources)
    return loaded.settings, loaded.findings + linted


def _load_kubernetes_documents(docs: list[dict[str, Any]]) -> Loaded:
    findings: list[Finding] = []
    from_config: dict[str, str] = {}
    from_env: dict[str, str] = {}
    names = {
        kind: {str(_as_dict(doc.get("metadata")).get("name")) for doc in docs if doc.get("kind") == kind}
        for kind in ("ConfigMap", "Secret")
    }
    hidden: list[str] = []
    for doc in docs:
        kind = doc.get("kind")
        if kind == "ConfigMap":
            for key, value in _as_dict(doc.get("data")).items():
                if _relevant_name(str(key)):
                    from_config[str(key)] = _k8s_string(str(key), value, "ConfigMap data", findings)
        elif kind == "Secret":
            for section in ("data", "stringData"):
                for key in _as_dict(doc.get(section)):
                    if _relevant_name(str(key)):
                        from_config[str(key)] = UNKNOWN_VALUE  # never read secret values
        elif kind in _WORKLOADS:
            for container in _as_list(_pod_spec(doc).get("containers")):
                hidden += _container_env(_as_dict(container), names, from_env, findings)
    settings = {**from_config, **from_env}  # env entries take precedence over envFrom (Kubernetes rule)
    return Loaded(settings, "kubernetes", findings, tuple(dict.fromkeys(hidden)))


def _container_env(
    container: dict[str, Any], names: Mapping[str, set[str]], env: dict[str, str], findings: list[Finding]
) -> list[str]:
    """Collect one container's ZDM_* env entries into ``env``; return envFrom sources the file lacks."""
    hidden: list[str] = []
    has_zdm = False
    for entry in _as_list(container.get("env")):
        entry = _as_dict(entry)
        name = str(entry.get("name", ""))
        if not _relevant_name(name):
            continue
        has_zdm = True
        if "valueFrom" in entry:
            env[name] = UNKNOWN_VALUE
            continue
        value = _k8s_string(name, entry.get("value", ""), "env", findings)
        env[name] = UNKNOWN_VALUE if "$(" in value else value  # $(VAR) is expanded by the kubelet
    for source in _as_list(container.get("envFrom")):
        source = _as_dict(source)
        for ref, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref_name = _as_dict(source.get(ref)).get("name")
            has_zdm = has_zdm or ref_name is not None  # settings may come whole from a ConfigMap or Secret
            if ref_name is not None and str(ref_name) not in names[kind]:
                hidden.append(f"envFrom {ref} {ref_name!r}")
    arguments = [str(arg) for arg in _as_list(container.get("command")) + _as_list(container.get("args"))]
    if has_zdm and any(re.fullmatch(r"--?config(=.*)?", arg) for arg in arguments):
        findings.append(
            Finding(
                "--config",
                f"container {container.get('name', '?')!r} starts the proxy with --config, so the proxy "
                "ignores every ZDM_* environment variable; put the settings in that YAML file instead",
                "error",
            )
        )
    return hidden
