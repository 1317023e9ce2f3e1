"""Shared by the benchmarks: wall time and peak resident memory of this process and its children."""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

import psutil


def tree_rss(root: psutil.Process) -> int:
    total = 0
    for p in [root, *root.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


@contextmanager
def measure(interval: float = 0.02):
    """Yields a dict that gets 'seconds' and 'peak_rss' (bytes, whole process tree) on exit."""
    me = psutil.Process()
    out = {"baseline_rss": tree_rss(me), "peak_rss": 0}
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            out["peak_rss"] = max(out["peak_rss"], tree_rss(me))
            time.sleep(interval)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    t0 = time.perf_counter()
    try:
        yield out
    finally:
        out["seconds"] = time.perf_counter() - t0
        stop.set()
        t.join()
        out["peak_rss"] = max(out["peak_rss"], tree_rss(me))


def evict(path: str) -> None:
    """Drop this one file's pages from the page cache (no root needed), as for a survey larger
    than memory: the next reader gets it from the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
