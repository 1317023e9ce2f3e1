"""The Dask side: getting a client (embedded LocalCluster or an existing scheduler) and running a
list of independent tasks on it with progress. Convert, export and denoise all run through here.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from distributed import Client, LocalCluster, as_completed

Progress = Callable[[int, int], None]


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


@contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
) -> Iterator[Client]:
    """A client for ``scheduler`` (address or scheduler-file path), or an embedded LocalCluster."""
    if scheduler:
        if os.path.isfile(scheduler):
            client = Client(scheduler_file=scheduler)
        else:
            client = Client(scheduler)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(
        n_workers=workers or default_workers(),
        threads_per_worker=threads_per_worker,
        processes=processes,
        dashboard_address=":0",  # a free port: never collide with another cluster
        silence_logs=logging.CRITICAL,
    )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


@contextmanager
def maybe_client(client: Client | None, **kwargs: Any) -> Iterator[Client]:
    """Use the caller's client, or start (and stop) an embedded one."""
    if client is not None:
        yield client
    else:
        with dask_client(**kwargs) as own:
            yield own


def run_tasks(
    client: Client,
    fn: Callable[..., Any],
    args: Sequence[tuple],
    progress: Progress | None = None,
    retries: int = 2,
) -> list[Any]:
    """Run ``fn(*a)`` for every ``a`` on the cluster; results in input order.

    The first task error is raised as it is (so a SeisbatchError from a worker reaches the user
    with its message) after the remaining tasks are cancelled.
    """
    futures = [client.submit(fn, *a, pure=False, retries=retries) for a in args]
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    done = 0
    if progress:
        progress(0, len(futures))
    try:
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            done += 1
            if progress:
                progress(done, len(futures))
    except BaseException:
        client.cancel(futures)
        raise
    return results
