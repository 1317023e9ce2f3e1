"""Preloaded into each worker process of the embedded local cluster (Dask's ``preload``).

A terminal's Ctrl-C goes to every process of the foreground group: the client and the worker
processes it spawned. The client stops the run, says so in one line and closes the cluster; the
workers must not each print the KeyboardInterrupt tracebacks of their event loops, so they
ignore SIGINT and are stopped by their nanny instead.
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker: object) -> None:
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, signal.SIG_IGN)
