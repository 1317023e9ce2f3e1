"""``seisbatch denoise``: the runner, the one module that knows both Dask and the model.

The client plans tiles from shapes, creates (or reopens) the output array beside the input in the
same store, and sends one task per chunk-aligned block to the workers. Each worker holds one model,
loaded once by a WorkerPlugin that carries only the model's path and digest. A task reads its
haloed block from the input, scales it by the survey statistics, runs the model in fixed-size
batches, crops or blends, writes its block of the output and then marks itself done in the
output's block progress (``store.progress``), so an interrupted run resumes with only the missing
blocks.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import asdict
from typing import Any

import numpy as np
import zarr
from distributed import Client, WorkerPlugin, get_worker

from . import config, devices, engine, engines, fx, locking, orthogonalize, stats, store, tiling
from .errors import SeisbatchError
from .specs import DEFAULT_OUTPUT, METHODS, PRECISIONS, DenoiseSpec  # noqa: F401  (importable here too)

PLUGIN = "seisbatch-model"


_LOADED: dict[tuple, tuple[str, Any]] = {}  # this worker process's last model, by file and precision
_LOADING = threading.Lock()


def _load(path: str, precision: str, threads: int, engine: str = "auto") -> tuple[str, Any, engines.Predict]:
    """Digest, inference form and predict function (``engine``) of the model at ``path``. A later
    run on the same cluster (the next line of a 2D survey) reuses them and the compiled predict
    step, unless the file has changed since (its modification time or size)."""
    st = os.stat(path)
    key = (path, st.st_mtime_ns, st.st_size, precision, engine)
    with _LOADING:
        if key not in _LOADED:
            from . import model as dncnn

            devices.start_backend(threads)
            m = dncnn.load(path)
            _LOADED.clear()  # one model per worker
            if engine in ("auto", "keras"):
                folded = dncnn.for_inference(m, precision)  # BatchNorm folded: fewer passes
                predict = engines.build(folded, engine)
            else:  # the other engines take the float32 weights and compute in ``precision`` themselves
                folded = dncnn.for_inference(m)
                try:
                    predict = engines.build(folded, engine, precision)
                except ImportError as exc:
                    raise SeisbatchError(path, f"the {engine} engine needs {exc.name}: pip install "
                                               "'seisbatch[engines]' (or onnxruntime-gpu on GPU workers)") from None
            _LOADED[key] = (dncnn.digest(m), folded, predict)
        return _LOADED[key]


class ModelPlugin(WorkerPlugin):
    """Holds one model per worker, loaded once on first use (on a task thread). Tasks carry the
    digest the client planned with and the worker checks it, so every block of an output comes
    from the same weights even if the file is replaced during the run."""

    def __init__(self, path: str, device: str = "auto", workers_per_host: dict[str, int] | None = None,
                 precision: str = "float32", engine: str = "auto"):
        self.path, self.device, self.per_host, self.precision = path, device, workers_per_host or {}, precision
        self.engine = engine

    def setup(self, worker=None) -> None:
        self._model = None
        self._lock = threading.Lock()  # made on the worker: locks do not travel
        if self.device == "cpu":
            devices.hide_gpus()
        else:
            devices.pin_own_gpu()  # before any backend initialises CUDA in this process
        # workers sharing a machine share its cores: each model gets its part, not all of them
        host = _host(worker.address) if worker is not None else ""
        self.threads = max(1, (os.cpu_count() or 1) // self.per_host.get(host, 1))
        os.environ.setdefault("TF_NUM_INTRAOP_THREADS", str(self.threads))
        os.environ.setdefault("OMP_NUM_THREADS", str(self.threads))

    def model(self, digest: str | None = None):
        """The worker's model; with ``digest``, refuse weights other than those planned with."""
        with self._lock:
            if self._model is None:
                self._digest, self._model, self._predict = _load(self.path, self.precision, self.threads, self.engine)
            if digest is not None and digest != self._digest:
                raise SeisbatchError(self.path, "model file changed during the run (digest differs)")
            return self._model

    def predictor(self, digest: str | None = None) -> engines.Predict:
        """The worker's predict function, (tiles, batch size) -> denoised tiles, from its engine."""
        self.model(digest)
        return self._predict

    def info(self) -> dict:
        from . import model as dncnn

        m = self.model()
        return {"digest": self._digest, "radius": dncnn.receptive_radius(m), **dncnn.architecture(m)}


def _host(address: str) -> str:
    """'tcp://10.0.0.5:40123' -> '10.0.0.5'."""
    return address.split("://")[-1].rsplit(":", 1)[0]


def model_info() -> dict:
    """Digest and receptive radius of the run's model, from a worker's plugin (keeps TensorFlow
    off the client, and that worker has its model loaded for the first block)."""
    return get_worker().plugins[PLUGIN].info()


def denoise_task(store_path: str, plan_dict: dict, index: int, spec: dict, scale: float, digest: str) -> int:
    """One block: read with halo, scale, infer, unscale, then :func:`_write`.

    Non-finite input samples (NaN, Inf) go into the model as 0, so that one bad sample cannot
    spread over the model's receptive field, and are 0 in the output."""

    p = tiling.Plan.from_dict(plan_dict)
    task = p.tasks[index]
    amp = zarr.open_array(store=store_path, path="amplitude", mode="r")
    read = p.region(task, read=True)
    run = get_worker().plugins[PLUGIN].predictor(digest)
    x = np.asarray(amp[read], dtype=np.float32)

    def predict(tiles: np.ndarray) -> np.ndarray:
        out = run(tiles, spec["batch_size"])
        engine.count_tiles(len(tiles))  # the client's progress bar moves per tile, not per block
        return out

    out, bad = tiling.infer(x, scale, lambda b: tiling.denoise_block(b, p, task, predict, spec["blend"],
                                                                     spec["batch_size"]))
    engine.count_tiles(0, flush=True)
    inner = tiling.within(p.region(task), read, amp.shape)
    return _write(store_path, p, index, spec["output"], x[inner], out, bad[inner], spec["restore"])


def _write(store_path: str, p: tiling.Plan, index: int, output: str, x: np.ndarray, out: np.ndarray,
           bad: np.ndarray, restore: bool) -> int:
    """A task's last steps on its core block: the lost signal put back section by section when
    ``restore`` (:func:`orthogonalize.restore`), non-finite input samples and dead traces zeroed,
    the block written, then marked done."""
    region = p.region(p.tasks[index])
    if restore:
        out = p.unsections(orthogonalize.restore(p.sections(np.where(bad, 0.0, x)), p.sections(out)), out.shape)
    out[bad] = 0.0
    out[~np.asarray(zarr.open_array(store=store_path, path="trace_mask", mode="r")[region[:-1]])] = 0.0
    zarr.open_array(store=store_path, path=output, mode="r+")[region] = out
    store.mark_done(store_path, output, index)
    return int(out.size)


def fx_task(store_path: str, plan_dict: dict, index: int, output: str, fx_settings: dict, restore: bool = False) -> int:
    """One block by f-x deconvolution: read with a halo of one f-x window, filter each section on
    the windows of the whole section (so the core equals whole-section f-x), then :func:`_write`.
    Non-finite samples are 0 in and out. No model, no scaling (f-x is linear)."""
    p = tiling.Plan.from_dict(plan_dict)
    task = p.tasks[index]
    spec = fx.FxSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in fx_settings.items()})
    amp = zarr.open_array(store=store_path, path="amplitude", mode="r")
    read = p.region(task, read=True)
    block = np.asarray(amp[read], dtype=np.float32)
    bad = ~np.isfinite(block)
    block[bad] = 0.0
    origin, extent = (task.read[0], task.read_samples[0]), (p.shape[p.trace_axis], p.shape[-1])
    out = p.unsections(np.stack([fx.fx_decon(sec, spec, origin, extent) for sec in p.sections(block)]), block.shape)
    inner = tiling.within(p.region(task), read, amp.shape)
    return _write(store_path, p, index, output, block[inner], out[inner], bad[inner], restore)


_OUTPUT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_RESERVED = ("amplitude", "trace_mask", "file", *store.INTERNAL, "sample",
             "inline", "crossline", "trace", "cdp_x", "cdp_y", "inline_number", "crossline_number", "offset", "cdp",
             "shot_point", "channel")


def _check_output_name(path: str, name: str) -> None:
    """An output is a new array at the store's top level, or one an earlier denoise run wrote:
    never one of the store's own arrays (the input is never written), and never a path."""
    if not _OUTPUT_NAME.match(name):
        raise SeisbatchError(path, f"output name {name!r}: use letters, digits, '_' and '-', starting with a letter")
    if name in _RESERVED:
        raise SeisbatchError(path, f"output name {name!r} is reserved (the input is never written)")
    live = zarr.open_group(path, mode="r", use_consolidated=False)  # arrays added since consolidation too
    if name in live and "model_digest" not in dict(live[name].attrs.get("seisbatch", {})):
        raise SeisbatchError(path, f"output name {name!r} is an array of the store that denoise did not write "
                                   "(the input is never written): choose another --output")


def _create_output(root: zarr.Group, name: str, attrs: dict) -> None:
    amp = root["amplitude"]
    root.create_array(name, shape=amp.shape, chunks=amp.chunks, dtype="float32", fill_value=0.0,
                      dimension_names=list(amp.metadata.dimension_names), compressors=amp.compressors,
                      attributes={"long_name": f"{name} amplitude", "seisbatch": attrs}, overwrite=True)


def check(path: str, spec: DenoiseSpec) -> zarr.Group:
    """Refuse a run that cannot succeed, before any cluster starts: the store must be complete,
    the output name free for denoise, and the sections (``direction``, ``domain``) ones the store's
    dims have. Returns the store's root."""
    root = store.open_complete(path)
    _check_output_name(path, spec.output)
    try:
        tiling.trace_axis(tuple(root["amplitude"].metadata.dimension_names), spec.direction, spec.domain)
    except ValueError as exc:
        raise SeisbatchError(path, str(exc)) from None
    subset_region(root, spec.subset, path)
    return root


def subset_region(root: zarr.Group, subset: tuple[tuple[str, float, float], ...], path: str) -> tuple[slice, ...]:
    """The index region of a trial ``subset`` (coordinate ranges, inclusive) in the amplitude: the
    whole array along dims the subset does not name. A dim the store lacks, or a range that holds
    no coordinate, is refused."""
    amp = root["amplitude"]
    dims = tuple(amp.metadata.dimension_names)
    region = [slice(0, n) for n in amp.shape]
    for dim, lo, hi in subset:
        if dim not in dims:
            raise SeisbatchError(path, f"no dim {dim!r} to take a subset of (dims: {', '.join(dims)})")
        values = root[dim][:] if dim in root else np.arange(amp.shape[dims.index(dim)])
        inside = np.flatnonzero((values >= lo) & (values <= hi))
        if not len(inside):
            raise SeisbatchError(path, f"{dim} {lo:g}:{hi:g} holds none of the store's {dim} values "
                                       f"({values.min():g}..{values.max():g})")
        region[dims.index(dim)] = slice(int(inside[0]), int(inside[-1]) + 1)
    return tuple(region)


def denoise(
    path: str,
    model_path: str | None = None,
    spec: DenoiseSpec = DenoiseSpec(),
    *,
    client: Client | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    progress: engine.Progress | None = None,
    tile_progress: engine.Progress | None = None,
) -> dict[str, Any]:
    """Denoise the amplitude of the store at ``path`` into array ``spec.output``; returns a summary.
    ``progress`` follows the blocks, ``tile_progress`` the model's tiles (events from the workers,
    several a second: what a progress bar shows)."""
    from .model import default_model_path

    t0 = time.perf_counter()
    path = os.fspath(path)
    model_path = os.path.abspath(model_path or default_model_path())
    root = check(path, spec)
    meta = store.meta(root)
    scale = stats.scale_factor(meta.get("stats") or {})
    with locking.store_lock(path):  # one writer per store; released even if this process is killed
        return _run(path, model_path, spec, root, scale, client, workers, overwrite, progress, t0, tile_progress)


def _run(path: str, model_path: str, spec: DenoiseSpec, root: zarr.Group, scale: float, client: Client | None,
         workers: int | None, overwrite: bool, progress: engine.Progress | None, t0: float,
         tile_progress: engine.Progress | None = None) -> dict[str, Any]:
    amp = root["amplitude"]
    n_workers = engine.resolve_workers(workers)
    with engine.maybe_client(client, workers=n_workers) as c:
        per_host: dict[str, int] = {}
        workers_info = c.scheduler_info()["workers"]
        for addr in workers_info:
            per_host[_host(addr)] = per_host.get(_host(addr), 0) + 1
        # workers started with `--resources GPU=1` take model tasks one per GPU; others stay for I/O
        # (a fraction of it each, setting denoise.tasks-per-gpu, so reading and writing overlap the model)
        per_gpu = max(1, int(config.get("denoise.tasks-per-gpu")))
        gpu = {"GPU": 1 / per_gpu} if any(w.get("resources", {}).get("GPU") for w in workers_info.values()) else None
        if spec.method == "fx":  # no model: plain NumPy tasks, a halo of one f-x window (exact tiling)
            info, gpu, model_path = {"digest": None}, None, None
            halo = spec.fx_spec().halo
        else:
            c.register_plugin(ModelPlugin(model_path, spec.device, per_host, spec.precision, spec.engine), name=PLUGIN)
            info = c.submit(model_info, pure=False, resources=gpu).result()
            halo = info["radius"] if spec.halo is None else spec.halo
        # a small survey is cut finer so that every task slot of the cluster has work; a resumed
        # run keeps the cut of the run it resumes, whatever the cluster is now
        slots = _previous_params(root, spec.output, overwrite).get("min_tasks") or max(1, int(
            config.get("denoise.min-tasks") or sum(w.get("nthreads", 1) for w in workers_info.values())))
        dims = tuple(amp.metadata.dimension_names)
        axis, label = tiling.trace_axis(dims, spec.direction, spec.domain)
        restore = spec.restore if spec.restore is not None else tiling.is_gathers(dims)
        p = tiling.plan(amp.shape, amp.chunks, spec.tile, halo, label, min_tasks=slots, axis=axis)
        params = json.loads(json.dumps(dict(spec.params(), halo=halo, scale=scale, min_tasks=slots, restore=restore,
                                            plan=p.digest())))  # as stored
        attrs = {"complete": False, "method": spec.method, "model_path": model_path,
                 "model_digest": info["digest"], "params": params}
        done = _prepare(root, path, spec.output, attrs, len(p.tasks), overwrite)
        if done is None:
            return {"already_complete": True, "output": spec.output, "tasks": len(p.tasks), "method": spec.method}
        region = subset_region(root, spec.subset, path)
        todo = [i for i in range(len(p.tasks)) if not done[i] and _meets(p.region(p.tasks[i]), region)]
        plan_dict = p.to_dict()
        if spec.method == "fx":
            args = [(path, plan_dict, i, spec.output, asdict(spec.fx_spec()), restore) for i in todo]
            wrote = engine.run_tasks(c, fx_task, args, progress)
        else:
            spec_d = {"batch_size": spec.batch_size, "blend": spec.blend, "output": spec.output, "restore": restore}
            with engine.tile_progress(c, sum(len(p.tasks[i].tiles) * p.tasks[i].n_sections for i in todo),
                                      tile_progress):
                wrote = engine.run_tasks(c, denoise_task, [(path, plan_dict, i, spec_d, scale, info["digest"])
                                                           for i in todo], progress, resources=gpu)
        n_used = len(c.scheduler_info()["workers"])
    arr = zarr.open_array(store=path, path=spec.output, mode="r+")
    flags = store.done_mask(path, spec.output, len(p.tasks))
    wanted = [i for i in range(len(p.tasks)) if _meets(p.region(p.tasks[i]), region)]
    if flags is not None and spec.subset and flags[wanted].all() and not flags.all():  # a trial, done
        arr.attrs["seisbatch"] = dict(attrs, trial={"subset": {d: [lo, hi] for d, lo, hi in spec.subset},
                                                    "region": [[s.start, s.stop] for s in region]})
        store.consolidate(path)
        return dict(_summary(spec, p, len(wanted), todo, wrote, info, halo, restore, n_used, t0),
                    trial={"subset": spec.subset, "blocks": len(wanted), "done": int(flags.sum())})
    if flags is None or not flags.all():
        missing = len(p.tasks) if flags is None else int((~flags).sum())
        raise SeisbatchError(path, f"{missing} blocks of {spec.output!r} were not written; run again to finish")
    attrs.pop("trial", None)
    arr.attrs["seisbatch"] = dict(attrs, complete=True, finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
    store.clear_blocks(path, spec.output)
    store.consolidate(path)
    return _summary(spec, p, len(p.tasks), todo, wrote, info, halo, restore, n_used, t0)


def _summary(spec: DenoiseSpec, p: tiling.Plan, scope: int, todo: list[int], wrote: list[int], info: dict,
             halo: int, restore: bool, n_used: int, t0: float) -> dict[str, Any]:
    """What a run did, for the CLI: ``scope`` blocks wanted (all, or a trial's), ``todo`` computed."""
    wall = time.perf_counter() - t0
    done = sum(wrote)
    return {"output": spec.output, "tasks": len(p.tasks), "computed": len(todo), "resumed": scope - len(todo),
            "tiles": sum(len(p.tasks[i].tiles) * p.tasks[i].n_sections for i in todo), "samples": int(np.prod(p.shape)),
            "computed_samples": int(done), "seconds": wall, "samples_per_s": done / wall if wall else 0.0,
            "workers": n_used, "model_digest": info["digest"], "halo": halo, "precision": spec.precision,
            "method": spec.method, "sections": p.direction, "restore": restore, "already_complete": False}


def _meets(a: tuple[slice, ...], b: tuple[slice, ...]) -> bool:
    """Whether two index regions (slices with start and stop) overlap."""
    return all(x.start < y.stop and y.start < x.stop for x, y in zip(a, b))


def _previous_params(root: zarr.Group, name: str, overwrite: bool) -> dict:
    """The parameters of the run that made output ``name`` (empty if none, or if it is replaced)."""
    if overwrite or name not in root:
        return {}
    return dict(dict(root[name].attrs.get("seisbatch", {})).get("params") or {})


def _prepare(root: zarr.Group, path: str, name: str, attrs: dict, n_tasks: int, overwrite: bool) -> np.ndarray | None:
    """Create the output, or check an existing one is the same run: returns the done flags, or
    None when it is already complete. A different model or parameters is refused unless overwriting."""
    root = zarr.open_group(path, mode="r+")  # only the output arrays are written through this
    if name in root and not overwrite:
        old = dict(root[name].attrs.get("seisbatch", {}))
        same = old.get("model_digest") == attrs["model_digest"] and old.get("params") == attrs["params"]
        if not same:
            what = "another model" if old.get("model_digest") != attrs["model_digest"] else "other parameters"
            raise SeisbatchError(path, f"array {name!r} exists from a run with {what}; "
                                       f"use --overwrite to replace it or --array to write another array")
        if old.get("complete"):
            return None
        flags = store.done_mask(path, name, n_tasks)
        if flags is not None:
            return flags
    _create_output(root, name, attrs)
    store.start_blocks(path, name, n_tasks)
    store.consolidate(path)
    return np.zeros(n_tasks, bool)
