"""What the framework's own environments (``local`` processes, ``docker`` containers) are made of.

The same Cassandra node configuration and zdm-proxy configuration serve both, so the two labs agree.
"""
