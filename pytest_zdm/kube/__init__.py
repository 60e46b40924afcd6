"""What the kind and kube targets need from a Kubernetes cluster.

Split so that only a thin layer needs a live cluster: :mod:`.resources` turns API objects (as the
``kubernetes`` client returns them) into endpoints, proxy-instability evidence and lint input, and is plain
code; :mod:`.portforward` wraps ``kubectl port-forward`` processes; :mod:`.api` makes the few API calls.
"""
