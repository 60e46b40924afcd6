"""Benchmark: time from ``pytest`` start to a ready ``local`` environment, and its peak memory.

Warm artifact cache. Each run is a fresh ``pytest bench/boot_probe.py`` process; the probe test writes the
wall-clock time at which the ``zdm_env`` fixture returned (both nodes and the proxy ready). The reference is
the same launcher with Cassandra's stock start-up settings (``--zdm-fast-boot=false``: no fast-boot system
properties, 16 tokens), run in the same process of this script. Peak RSS is the largest sum, sampled every
0.2 s, of the resident memory of every process the run started (supervisor, two JVMs, proxy), measured
through boot and a 2,000-row write workload through the proxy.

With ``--versions 4.0,4.1,5.0`` each Cassandra line is measured in turn (both clusters on it, each on
the Java its release runs on): ready time and peak RSS per version, and the per-JVM RSS.

    python bench/boot_time.py [--runs 5] [--skip-stock] [--versions 4.0,4.1,5.0]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from pytest_zdm.runtime.leftovers import RUN_MARKER

HERE = Path(__file__).resolve().parent


class RssSampler(threading.Thread):
    """Peak of the summed RSS of processes carrying the run marker for ``run_root``."""

    def __init__(self, run_root: Path) -> None:
        super().__init__(daemon=True)
        self.run_root = str(run_root)
        self.peak = 0
        self.peak_parts: dict[str, int] = {}
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.is_set():
            total, parts = 0, {}
            for proc in psutil.process_iter(["name"]):
                try:
                    marker = proc.environ().get(RUN_MARKER, "")
                    if marker.startswith(self.run_root):
                        rss = proc.memory_info().rss
                        total += rss
                        parts[f"{proc.info['name']}:{proc.pid}"] = rss
                except (psutil.Error, OSError):
                    continue
            if total > self.peak:
                self.peak, self.peak_parts = total, parts
            time.sleep(0.2)

    def stop(self) -> None:
        self._halt.set()
        self.join()


def one_run(fast_boot: bool, version: str | None = None) -> tuple[float, int, dict[str, int]]:
    """Seconds from pytest start to ready, and peak RSS in bytes (with its breakdown)."""
    with tempfile.TemporaryDirectory(prefix="zdm-bench-") as tmp:
        runs = Path(tmp) / "runs"
        ready_file = Path(tmp) / "ready"
        env = {**os.environ, "ZDM_BENCH_READY_FILE": str(ready_file), "PYTEST_ZDM_RUN_DIR": str(runs)}
        sampler = RssSampler(runs)
        sampler.start()
        start = time.time()
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(HERE / "boot_probe.py"),
             f"--zdm-fast-boot={'true' if fast_boot else 'false'}", "--rootdir", tmp,
             *([f"--zdm-cassandra-version={version}"] if version else [])],
            env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        sampler.stop()
        if proc.returncode != 0:
            raise SystemExit(f"probe run failed ({proc.returncode}):\n{proc.stdout[-3000:]}")
        ready = float(ready_file.read_text().split()[0])
        return ready - start, sampler.peak, sampler.peak_parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-stock", action="store_true", help="only the fast-boot runs")
    parser.add_argument("--versions", help="comma-separated Cassandra lines or releases, measured in turn")
    args = parser.parse_args()
    if args.versions:
        by_version(args.versions.split(","), args.runs)
        return
    one_run(True)  # warm-up: artifacts cached, page cache hot for both configurations
    results: dict[str, list[tuple[float, int, dict[str, int]]]] = {"fast-boot": [], "stock": []}
    for i in range(args.runs):
        for label, fast in (("fast-boot", True), ("stock", False)):
            if label == "stock" and args.skip_stock:
                continue
            seconds, peak, parts = one_run(fast)
            results[label].append((seconds, peak, parts))
            print(
                f"run {i + 1} {label:9s}: ready in {seconds:6.1f}s, peak RSS {peak / 2**20:7.0f} MiB",
                flush=True,
            )
    print_medians(results, "ready")
    worst = max((r for rows in results.values() for r in rows), key=lambda r: r[1])
    print("peak RSS breakdown (MiB):", {k: round(v / 2**20) for k, v in sorted(worst[2].items())})


def print_medians(results: dict[str, list[Any]], what: str) -> dict[str, float]:
    """Median, min and max seconds and the peak RSS per configuration (rows: seconds, peak RSS, ...), and
    the speed-up of fast-boot over stock settings when both ran; the medians."""
    print()
    medians = {}
    for label, rows in results.items():
        if not rows:
            continue
        medians[label] = statistics.median(r[0] for r in rows)
        print(f"{label:9s}: median {what} {medians[label]:.1f}s over {len(rows)} runs "
              f"(min {min(r[0] for r in rows):.1f}s, max {max(r[0] for r in rows):.1f}s); "
              f"peak RSS {max(r[1] for r in rows) / 2**20:.0f} MiB")  # fmt: skip
    if "stock" in medians and "fast-boot" in medians:
        print(f"speed-up of fast-boot over stock settings: {medians['stock'] / medians['fast-boot']:.2f}x")
    return medians


def by_version(versions: list[str], runs: int) -> None:
    """Median ready time and peak RSS with both clusters on each version (fast-boot settings)."""
    for version in versions:
        one_run(True, version)  # warm-up: jars and Java provisioned, page cache hot
        rows = []
        for i in range(runs):
            seconds, peak, parts = one_run(True, version)
            rows.append((seconds, peak, parts))
            jvms = sorted(v for k, v in parts.items() if k.startswith("java"))
            print(f"Cassandra {version} run {i + 1}: ready in {seconds:6.1f}s, "
                  f"peak RSS {peak / 2**20:7.0f} MiB (JVMs {[round(v / 2**20) for v in jvms]} MiB)",
                  flush=True)  # fmt: skip
        median = statistics.median(r[0] for r in rows)
        peak = max(r[1] for r in rows)
        jvm = max(v for r in rows for k, v in r[2].items() if k.startswith("java"))
        print(f"Cassandra {version}: median ready {median:.1f}s over {runs} runs (two nodes and the proxy); "
              f"peak RSS {peak / 2**20:.0f} MiB, largest JVM {jvm / 2**20:.0f} MiB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
