"""Probe run by ``bench/boot_time.py``: records when the environment is ready, then does a little work."""

import os
import time
from pathlib import Path


def test_probe(zdm_env, proxy_session, zdm_keyspace):
    Path(os.environ["ZDM_BENCH_READY_FILE"]).write_text(f"{time.time()}\n{zdm_env.run_dir}\n")
    table = f"{zdm_keyspace}.probe"
    proxy_session.execute(f"CREATE TABLE {table} (k int PRIMARY KEY, v text)")
    insert = proxy_session.prepare(f"INSERT INTO {table} (k, v) VALUES (?, ?)")
    for start in range(0, 2000, 100):
        futures = [proxy_session.execute_async(insert, (k, "x" * 100)) for k in range(start, start + 100)]
        for future in futures:
            future.result()
