"""One writer per store: a lock that dies with its holder.

``convert`` and ``denoise`` write a store from one client process for the whole run. They take an
exclusive ``flock`` on a small file beside the store (``.NAME.lock`` in the same directory), so a
second run on the same store is refused at once with the holder's pid, host and command. The
kernel drops the lock when the holder exits or is killed (even with SIGKILL), so a crashed run
never blocks the next one and there is no stale lock to clean up by hand.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

from .errors import SeisbatchError


def lock_path(store_path: str) -> str:
    """``/data/survey.zarr`` -> ``/data/.survey.zarr.lock``."""
    p = os.path.abspath(os.fspath(store_path)).rstrip(os.sep)
    return os.path.join(os.path.dirname(p), "." + os.path.basename(p) + ".lock")


def _holder(fd: int) -> str:
    try:
        info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
    except (OSError, ValueError):
        return "another seisbatch run"
    if not info:
        return "another seisbatch run"
    return (f"seisbatch run pid {info.get('pid')} on {info.get('host')} since {info.get('since')} "
            f"({info.get('command', '')})")


@contextmanager
def store_lock(store_path: str, command: str | None = None) -> Iterator[str]:
    """Hold the store's lock for the block; refuse (SeisbatchError) if another process holds it."""
    path = lock_path(store_path)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SeisbatchError(store_path, f"cannot create the lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            who = _holder(fd)
            os.close(fd)
            raise SeisbatchError(store_path, f"in use by {who}; wait for it to finish (the lock is released "
                                             f"when that process ends, even if it crashes)") from None
        try:  # the file we locked must still be the one at the path (a releasing holder unlinks it)
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    info = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%S"),
            "command": command or " ".join(os.path.basename(a) if i == 0 else a for i, a in enumerate(sys.argv))}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    try:
        yield path
    finally:
        try:
            os.unlink(path)
        except OSError:
            pass
        os.close(fd)  # releases the flock
