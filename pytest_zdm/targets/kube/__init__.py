"""The ``kind`` and ``kube`` targets: a migration deployed in Kubernetes, reached through port-forwards.

:mod:`.target` finds the Services and pods and forwards them; :mod:`.api` talks to the API server,
:mod:`.portforward` runs ``kubectl port-forward``, :mod:`.resources` reads the proxy's Deployment.
"""

from pytest_zdm.targets.kube.target import KindTarget, KubeTarget

#: The targets this package provides, by name.
TARGETS = {"kind": KindTarget, "kube": KubeTarget}

__all__ = ["TARGETS", "KindTarget", "KubeTarget"]
