"""A real Spark standalone cluster on 127.0.0.1 (a master and N workers started with `spark-class`), for the
cluster test and the cluster benchmark. Only the processes started here are stopped."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spark_home() -> str:
    import pyspark

    return os.path.dirname(pyspark.__file__)


@contextlib.contextmanager
def cluster(logs: Path, workers: int = 2, cores: int = 1, memory: str = "2g") -> Iterator[str]:
    """Start a master and `workers` workers, yield the master URL, then stop exactly those processes."""
    home = spark_home()
    logs.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    env = {**os.environ, "SPARK_HOME": home, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs)}
    spark_class = os.path.join(home, "bin", "spark-class")

    def start(args: list[str], log: str) -> subprocess.Popen:
        return subprocess.Popen(
            [spark_class, *args],
            env=env,
            stdout=open(logs / log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    procs = [
        start(
            [
                "org.apache.spark.deploy.master.Master",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--webui-port",
                str(ui),
            ],
            "master.log",
        )
    ]
    try:
        _wait(lambda: alive_workers(ui) is not None, "master")
        for i in range(workers):
            procs.append(
                start(
                    [
                        "org.apache.spark.deploy.worker.Worker",
                        f"spark://127.0.0.1:{port}",
                        "--host",
                        "127.0.0.1",
                        "--cores",
                        str(cores),
                        "--memory",
                        memory,
                        "--webui-port",
                        str(free_port()),
                        "--work-dir",
                        str(logs / f"work{i}"),
                    ],
                    f"worker{i}.log",
                )
            )
        _wait(lambda: alive_workers(ui) == workers, f"{workers} workers")
        yield f"spark://127.0.0.1:{port}"
    finally:
        for proc in procs:
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)


def alive_workers(ui: int) -> int | None:
    """The master's count of alive workers from its JSON status page; None while it isn't answering."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui}/json/", timeout=2) as resp:
            return int(json.load(resp)["aliveworkers"])
    except OSError:
        return None


def _wait(ready: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if ready():
            return
        time.sleep(1)
    raise TimeoutError(f"standalone {what} not up after {timeout}s")
