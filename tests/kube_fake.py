"""A tiny fake Kubernetes API server on loopback, and objects built from the shipped k8s/ manifests.

What it proves, and what not: it answers the reads the ``kubernetes`` client and ``kubectl port-forward``
make before any data flows (API discovery, a Service, pods by label, a Deployment, ConfigMaps, Secrets), and
accepts the SPDY upgrade of ``pods/NAME/portforward`` (refusing the WebSocket one first, as an API server
without WebSocket port-forwarding does; kubectl then falls back to SPDY). kubectl then listens and prints
``Forwarding from 127.0.0.1:NNNN``. It does NOT speak SPDY afterwards, so no byte is ever forwarded to a
pod: tests built on it verify kubectl's start-up, output, exit and our process handling, never a data path.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from copy import deepcopy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import yaml
from kubernetes.client import ApiClient

ROOT = Path(__file__).resolve().parent.parent
MANIFESTS = ROOT / "k8s"
NAMESPACE = "default"

_PLURALS = {
    "Service": "services",
    "Pod": "pods",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
}
_DISCOVERY_V1 = {
    "kind": "APIResourceList",
    "groupVersion": "v1",
    "resources": [
        {"name": "pods", "singularName": "pod", "namespaced": True, "kind": "Pod", "verbs": ["get", "list"]},
        {"name": "pods/portforward", "singularName": "", "namespaced": True, "kind": "PodPortForwardOptions",
         "verbs": ["create", "get"]},
        {"name": "services", "singularName": "service", "namespaced": True, "kind": "Service",
         "verbs": ["get", "list"], "shortNames": ["svc"]},
    ],
}  # fmt: skip


def manifest_documents() -> list[dict[str, Any]]:
    """Every document of the shipped k8s/ manifests."""
    docs: list[dict[str, Any]] = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        docs += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return docs


def as_api_object(doc: dict[str, Any]) -> dict[str, Any]:
    """A manifest document as the API server returns it: namespace, uid, creation time filled in."""
    obj = deepcopy(doc)
    meta = obj.setdefault("metadata", {})
    meta.setdefault("namespace", NAMESPACE)
    meta.setdefault("uid", f"uid-{obj['kind'].lower()}-{meta['name']}")
    meta.setdefault("creationTimestamp", "2025-01-10T10:00:00Z")
    meta.setdefault("resourceVersion", "1001")
    if obj["kind"] == "Secret" and "stringData" in obj:  # the API server stores stringData as base64 data
        import base64

        obj["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in obj.pop("stringData").items()}
    return obj


def running_pod(workload: dict[str, Any], index: int = 0, *, restarts: int = 0) -> dict[str, Any]:
    """A Running, ready pod of a Deployment or StatefulSet, as the API server returns it."""
    template = workload["spec"]["template"]
    name = workload["metadata"]["name"]
    pod_name = f"{name}-{index}" if workload["kind"] == "StatefulSet" else f"{name}-6d5f7c9b8-x2x7{index}"
    statuses = [
        {
            "name": c["name"],
            "ready": True,
            "started": True,
            "restartCount": restarts,
            "image": c["image"],
            "imageID": f"docker.io/library/{c['image']}@sha256:{'ab' * 32}",
            "containerID": f"containerd://{'cd' * 32}",
            "state": {"running": {"startedAt": "2025-01-10T10:01:00Z"}},
            "lastState": {},
        }
        for c in template["spec"]["containers"]
    ]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod_name,
            "namespace": NAMESPACE,
            "uid": f"uid-pod-{pod_name}",
            "labels": dict(template["metadata"]["labels"]),
            "creationTimestamp": "2025-01-10T10:00:30Z",
        },
        "spec": deepcopy(template["spec"]),
        "status": {
            "phase": "Running",
            "podIP": "10.244.0.7",
            "conditions": [
                {"type": "Ready", "status": "True"},
                {"type": "ContainersReady", "status": "True"},
            ],
            "containerStatuses": statuses,
        },
    }


def deserialize(obj: dict[str, Any], klass: str) -> Any:
    """The ``kubernetes`` client's model object for ``obj``, through its own deserializer."""
    text = json.dumps(obj)
    try:
        return ApiClient().deserialize(text, klass, "application/json")  # client >= 35: the body text
    except TypeError:  # older clients take a response object with .data

        class _Response:
            data = text

        return ApiClient().deserialize(_Response(), klass)


class FakeApiServer:
    """Serves ``objects`` (API-form dicts) and pods; see the module docstring for what it proves."""

    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = [as_api_object(o) for o in objects]
        self.requests: list[str] = []
        self.logs: dict[str, str] = {}  # pod name -> its container log
        self.stall_seconds = 0.0
        self._upgraded: list[Any] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._server.handle_error = lambda request, address: None  # type: ignore[method-assign]  # clients hang up
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The server's base URL."""
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeApiServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop_forward_connections()
        self._server.shutdown()
        self._server.server_close()

    def drop_forward_connections(self) -> None:
        """Close every upgraded port-forward connection, as when the pod behind it goes away."""
        for conn in self._upgraded:
            try:
                conn.shutdown(2)
                conn.close()
            except OSError:
                pass
        self._upgraded.clear()

    def find(self, kind: str, name: str | None = None, selector: str | None = None) -> list[dict[str, Any]]:
        """Stored objects of ``kind``, by name or by an equality label selector."""
        wanted = dict(part.split("=", 1) for part in selector.split(",")) if selector else {}
        return [
            o
            for o in self.objects
            if o["kind"] == kind
            and (name is None or o["metadata"]["name"] == name)
            and all(o["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())
        ]

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if path == "/version":
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0"}
        if path == "/api":
            return 200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
        if path == "/apis":
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": []}
        if path == "/api/v1":
            return 200, _DISCOVERY_V1
        parts = path.strip("/").split("/")
        # /api/v1/namespaces/NS/PLURAL[/NAME]  or  /apis/apps/v1/namespaces/NS/PLURAL[/NAME]
        rest = parts[2:] if parts[0] == "api" else parts[3:]
        if len(rest) < 3 or rest[0] != "namespaces" or rest[1] != NAMESPACE:
            return 404, _status(404, f"no route {path}")
        kind = next((k for k, plural in _PLURALS.items() if plural == rest[2]), None)
        if kind is None:
            return 404, _status(404, f"no resource {rest[2]}")
        if len(rest) == 3:
            selector = query.get("labelSelector", [None])[0]
            items = self.find(kind, selector=selector)
            return 200, {"kind": f"{kind}List", "apiVersion": "v1", "metadata": {}, "items": items}
        found = self.find(kind, name=rest[3])
        if not found:
            return 404, _status(404, f'{rest[2]} "{rest[3]}" not found')
        if rest[4:] == ["log"]:
            return 200, self.logs.get(rest[3], "")
        return 200, found[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                del format, args

            def _reply(self, code: int, body: Any) -> None:
                text = isinstance(body, str)
                data = body.encode() if text else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _any(self) -> None:
                url = urlparse(self.path)
                server.requests.append(f"{self.command} {url.path}")
                if server.stall_seconds:
                    threading.Event().wait(server.stall_seconds)
                if url.path.endswith("/portforward"):
                    self._portforward()
                    return
                code, body = server._route(self.command, url.path, parse_qs(url.query))
                self._reply(code, body)

            def _portforward(self) -> None:
                if self.headers.get("Upgrade", "").lower() != "spdy/3.1":
                    self._reply(400, _status(400, "websocket port-forwarding not supported"))
                    return
                self.send_response(101)
                self.send_header("Connection", "Upgrade")
                self.send_header("Upgrade", "SPDY/3.1")
                self.send_header("X-Stream-Protocol-Version", "portforward.k8s.io")
                self.end_headers()
                self.wfile.flush()
                server._upgraded.append(self.connection)
                try:  # hold the connection (no SPDY is spoken) until kubectl or the test closes it
                    while self.connection.recv(65536):
                        pass
                except OSError:
                    pass
                self.close_connection = True

            do_GET = _any
            do_POST = _any

        return Handler


def _status(code: int, message: str) -> dict[str, Any]:
    reason = {404: "NotFound", 400: "BadRequest"}.get(code, "Unknown")
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason,
            "code": code}  # fmt: skip


def write_kubeconfig(path: Path, server: str, *, context: str = "fake", namespace: str = NAMESPACE) -> Path:
    """A kubeconfig with one context pointing at ``server`` (no credentials: the fake asks for none)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake-user", "user": {}}],
        "contexts": [
            {"name": context, "context": {"cluster": "fake", "user": "fake-user", "namespace": namespace}}
        ],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def deployment_world() -> Iterator[dict[str, Any]]:
    """The shipped manifests plus one running pod per workload: what the cluster holds after apply."""
    for doc in manifest_documents():
        yield doc
        if doc["kind"] in ("Deployment", "StatefulSet"):
            yield running_pod(doc)
