"""What the framework reads from a running zdm-proxy: readiness, Prometheus metrics, latency per cluster."""
