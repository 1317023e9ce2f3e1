"""The Dask side: getting a client (embedded LocalCluster or an existing scheduler) and running a
list of independent tasks on it with progress. Convert, export and denoise all run through here.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import dask.config
from distributed import Client, LocalCluster, as_completed, get_worker

from . import config
from .errors import SeisbatchError

Progress = Callable[[int, int], None]


def default_workers() -> int:
    """Setting ``seisbatch.workers``, else one per core (at most 8)."""
    return resolve_workers(None)


def resolve_workers(workers: int | None) -> int:
    """The local workers to start: ``workers``, else setting ``seisbatch.workers``, else one per
    core (at most 8). The one place this is decided; fewer than one is an error, not a hang."""
    if workers is None:
        setting = config.get("workers")
        workers = int(setting) if setting is not None else max(1, min(os.cpu_count() or 1, 8))
    if workers < 1:
        raise ValueError(f"workers must be at least 1, not {workers}")
    return int(workers)


def worker_environ() -> dict[str, str]:
    """Environment for local worker processes: Dask's pre-spawn variables plus the setting
    ``seisbatch.worker-environ``. Its malloc thresholds matter: with Dask's 64 KiB trim threshold
    every freed block buffer goes back to the OS and the next one is page-faulted anew, which made
    a conversion block take 75 ms instead of 41 ms (measured, benchmarks/convert.py's file)."""
    env = dict(dask.config.get("distributed.nanny.pre-spawn-environ") or {})
    env.update(config.get("worker-environ") or {})
    return {k: str(v) for k, v in env.items()}


def _forget_dask_leftovers() -> None:
    """Dask's nanny copies its pre-spawn variables into this process's environment, where they
    then outrank the settings of every later cluster (a variable already set wins). So a plain
    LocalCluster started earlier in the same process (a notebook, a test) would leave seisbatch's
    workers with Dask's 64 KiB malloc trim threshold. A value equal to Dask's own default, for a
    variable seisbatch sets, is taken for such a leftover and dropped; any other value is the user's."""
    dask_env = dask.config.get("distributed.nanny.pre-spawn-environ") or {}
    for key in config.get("worker-environ") or {}:
        if key in dask_env and os.environ.get(key) == str(dask_env[key]):
            del os.environ[key]


@contextmanager
def dask_client(
    scheduler: str | None = None,
    workers: int | None = None,
    threads_per_worker: int = 1,
    processes: bool = True,
    gpu: bool = False,
) -> Iterator[Client]:
    """A client for ``scheduler`` (address or scheduler-file path), or an embedded LocalCluster;
    with ``gpu``, dask-cuda's LocalCUDACluster: one worker per local GPU, each seeing only its own
    device and advertising the resource GPU=1. Without ``scheduler``, the setting
    ``seisbatch.scheduler`` is used when set."""
    scheduler = scheduler or config.get("scheduler")
    if scheduler:
        client = _connect(str(scheduler))
        try:
            yield client
        finally:
            client.close()
        return
    _forget_dask_leftovers()
    with dask.config.set({"distributed.nanny.pre-spawn-environ": worker_environ()}):
        if gpu:
            cluster = _cuda_cluster()
        else:
            cluster = LocalCluster(
                n_workers=resolve_workers(workers),
                threads_per_worker=threads_per_worker,
                processes=processes,
                dashboard_address=str(config.get("dashboard-address")),  # loopback and a free port by default
                silence_logs=logging.CRITICAL,
                preload=["seisbatch.worker_setup"] if processes else [],  # Ctrl-C: one line from the client only
            )
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


TLS_SETTINGS = ("distributed.comm.tls.ca-file", "distributed.comm.tls.client.cert")


def _connect(scheduler: str) -> Client:
    """A client of an existing cluster, by address or scheduler file; TLS (``tls://``) with the
    certificates of Dask's own settings (``distributed.comm.tls.*``). A missing certificate or an
    unreachable or refusing scheduler is one clear error."""
    address = scheduler
    if os.path.isfile(scheduler):
        try:
            with open(scheduler) as fh:
                address = str(json.load(fh).get("address", ""))
        except (OSError, ValueError):
            raise SeisbatchError(scheduler, "not a Dask scheduler file (JSON with an address)") from None
    if address.startswith("tls://") and not all(dask.config.get(k, None) for k in TLS_SETTINGS):
        raise SeisbatchError(scheduler, "a TLS scheduler: give this client its certificates in Dask's settings "
                                        "(distributed.comm.tls.ca-file, .client.cert and .client.key, e.g. "
                                        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE=ca.pem)")
    try:
        return Client(scheduler_file=scheduler) if address != scheduler else Client(scheduler)
    except (OSError, TimeoutError) as exc:
        raise SeisbatchError(scheduler, f"cannot connect to the scheduler: {exc}") from None


TILES = "seisbatch-tiles"  # the topic of per-tile progress events
TILE_EVENT_S = 0.25  # a worker process sends at most one tile event this often
_TILES = {"n": 0, "sent": 0.0}
_TILES_LOCK = threading.Lock()


def count_tiles(n: int, flush: bool = False) -> None:
    """Worker side: ``n`` more tiles are done. Sent to the client as a Dask event at most four
    times a second per worker process (and at ``flush``, a task's end), so a progress bar can move
    per tile without an event per model call."""
    with _TILES_LOCK:
        _TILES["n"] += n
        now = time.monotonic()
        if not flush and now - _TILES["sent"] < TILE_EVENT_S:
            return
        n, _TILES["n"], _TILES["sent"] = _TILES["n"], 0, now
    if n:
        try:
            get_worker().log_event(TILES, n)
        except ValueError:  # not on a worker (a task called directly): nobody to tell
            pass


@contextmanager
def tile_progress(client: Client, total: int, progress: Progress | None) -> Iterator[None]:
    """Feed ``progress(done, total)`` from the workers' tile events while the block runs."""
    if progress is None:
        yield
        return
    done = [0]

    def handler(event: tuple) -> None:
        done[0] += int(event[1])
        progress(min(done[0], total), total)

    progress(0, total)
    client.subscribe_topic(TILES, handler)
    try:
        yield
    finally:
        client.unsubscribe_topic(TILES)
    progress(total, total)  # events still on their way when the last block returned


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
    retries: int | None = None,
    resources: dict[str, float] | None = None,
    on_result: Callable[[int, Any], None] | None = None,
) -> list[Any]:
    """Run ``fn(*a)`` for every ``a`` on the cluster; results in input order. With ``on_result``,
    each result goes to ``on_result(index, result)`` as it arrives and is then released, not kept
    (the list returned holds None): results that are only reduced then never pile up, neither in
    this process nor in the workers' memory.

    ``resources`` (e.g. {"GPU": 1}) sends each task only to workers that advertise them, one task
    per unit. A task whose worker dies or that raises is retried ``retries`` times (default: the
    setting ``seisbatch.retries``), then the run fails. The first task error is raised as it is (so a SeisbatchError from a worker reaches the user
    with its message) after the remaining tasks are cancelled.
    """
    retries = int(config.get("retries")) if retries is None else retries
    # one map, not a submit per task, and results that come with their futures: 2601 no-op tasks
    # took 5.0-6.1 s here instead of 8.0-9.7 s (client and scheduler time, the cluster's serial part)
    futures = client.map(fn, *zip(*args), pure=False, retries=retries, resources=resources) if args else []
    index = {f.key: i for i, f in enumerate(futures)}
    results: list[Any] = [None] * len(futures)
    done = 0
    if progress:
        progress(0, len(futures))
    try:
        for fut, result in as_completed(futures, with_results=True):
            if on_result is None:
                results[index[fut.key]] = result
            else:
                on_result(index[fut.key], result)
                fut.release()
            done += 1
            if progress:
                progress(done, len(futures))
    except BaseException:
        client.cancel(futures)
        raise
    return results


def local_gpus() -> int:
    """GPUs visible on this machine (nvidia-smi), 0 when there is none or no driver."""
    import shutil
    import subprocess

    if not shutil.which("nvidia-smi"):
        return 0
    out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
    return sum(line.startswith("GPU ") for line in out.stdout.splitlines()) if out.returncode == 0 else 0


def _cuda_cluster():
    from .errors import SeisbatchError

    n = local_gpus()
    if n == 0:
        raise SeisbatchError("--gpu", "no NVIDIA GPU found on this machine (nvidia-smi lists none)")
    try:
        from dask_cuda import LocalCUDACluster
    except ImportError:
        raise SeisbatchError("--gpu", f"{n} GPU(s) found but dask-cuda is not installed: pip install 'seisbatch[gpu]'") from None
    threads = max(2, int(config.get("denoise.tasks-per-gpu")))  # model tasks share the GPU; I/O tasks use the rest
    return LocalCUDACluster(resources={"GPU": 1}, threads_per_worker=threads, dashboard_address=":0",
                            silence_logs=logging.CRITICAL)
