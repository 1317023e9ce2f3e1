"""Denoising throughput on the machine's accelerator (a GPU when there is one), beside the
accelerator's own measured matrix-multiply rate, in one run.

    python benchmarks/gpu.py [--inlines 64 --crosslines 1024 --samples 1024] [--precision float32,bfloat16]
                             [--batch 8] [--threads 4] [--json OUT.json]

Any Keras backend (KERAS_BACKEND=tensorflow|jax|torch). Printed, per compute precision:
- the device's matmul rate (keras.ops.matmul of two n x n matrices, best of several), the ceiling;
- the bare model on batches of full tiles already in device-ready memory: samples/s, achieved
  TFLOP/s (the DnCNN's FLOPs per output sample x samples/s) and its fraction of the matmul rate;
- the whole pipeline, `seisbatch denoise` from Zarr to Zarr (read, scale, tile, infer, blend, write)
  on a local cluster: one worker per GPU (dask-cuda when installed, else one worker with
  --threads task threads that share the GPU, so reading and writing overlap the model), or the
  CPU workers when there is no GPU. Cold (workers start and load the model) and warm (a second
  run on the same cluster); its ratio to the bare model is the pipeline's efficiency.

Targets on one H100 (issue 5): at least 100 million samples/s for the whole pipeline.
Without a GPU it runs the same measurements on the CPU, at a smaller default size.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import time

import dask
import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

OUT = os.path.join(os.path.dirname(__file__), "output")


def accelerator() -> tuple[str, str | None]:
    """(Keras backend, the GPU's name or None)."""
    import keras

    b = keras.backend.backend()
    name = None
    if b == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
    elif b == "jax":
        import jax

        d = jax.devices()[0]
        name = d.device_kind if d.platform == "gpu" else None
    elif b == "torch":
        import torch

        name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    return b, name


def _sync(x) -> None:
    """Wait for the device: fetch one element (every backend dispatches asynchronously)."""
    from keras import ops

    ops.convert_to_numpy(ops.reshape(x, (-1,))[:1])


def matmul_tflops(dtype: str, n: int, repeats: int = 10) -> float:
    """Best-of-3 rate of ``repeats`` chained n x n matmuls on the backend's default device."""
    from keras import ops

    rng = np.random.default_rng(0)
    a = ops.cast(ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)), dtype)
    b = ops.cast(ops.convert_to_tensor(rng.standard_normal((n, n), dtype=np.float32) / np.sqrt(n)), dtype)
    _sync(ops.matmul(a, b))
    best = float("inf")
    for _ in range(3):
        t = time.perf_counter()
        y = a
        for _ in range(repeats):
            y = ops.matmul(y, b)
        _sync(y)
        best = min(best, time.perf_counter() - t)
    return 2 * n**3 * repeats / best / 1e12


def bare(model, tile: tuple[int, int], batch: int, seconds: float = 3.0, predict=None) -> float:
    """Output samples/s of the model on full haloed tiles (the cores count as output); ``predict``:
    an engine's (tiles, batch) -> tiles, default the Keras model's."""
    from seisbatch import model as dncnn

    run = predict or (lambda tiles, b: dncnn.predict(model, tiles, b))
    r = dncnn.receptive_radius(model)
    x = np.random.default_rng(1).standard_normal((batch, tile[0] + 2 * r, tile[1] + 2 * r), dtype=np.float32) * 0.3
    run(x, batch)  # compile
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < seconds or n < 3:
        run(x, batch)
        n += 1
    return n * batch * tile[0] * tile[1] / (time.perf_counter() - t)


def engine_rates(base_model, precisions: list[str], tile, batch: int, ceiling: dict[str, float]) -> dict:
    """The bare model on every engine (seisbatch.engines) and precision it computes in, against the
    Keras model's float32 output on the same tiles (equality checked before timing)."""
    from seisbatch import engines
    from seisbatch import model as dncnn

    folded = dncnn.for_inference(base_model)
    r = dncnn.receptive_radius(folded)
    x = np.random.default_rng(2).standard_normal((batch, tile[0] + 2 * r, tile[1] + 2 * r), dtype=np.float32) * 0.3
    ref = dncnn.predict(folded, x, batch)
    out = {}
    for engine, own in (("onnx", ("float32", "float16")), ("jax", ("float32", "bfloat16"))):
        for prec in own:
            name = f"{engine} {prec}"
            try:
                run = engines.build(folded, engine, prec)
                err = float(np.sqrt(((run(x, batch) - ref) ** 2).mean() / (ref**2).mean()))
                sps = bare(folded, tile, batch, predict=run)
            except Exception as e:  # noqa: BLE001 - an engine this machine lacks is said, not fatal
                print(f"{name:>16}: not measured ({type(e).__name__}: {e})")
                continue
            out[name] = {"samples_s": sps, "rel_rms_error_vs_keras_float32": err}
            frac = sps * dncnn.flops_per_sample() / 1e12 / ceiling.get(prec, ceiling["float32"])
            print(f"{name:>16}: {sps:>14,.0f} samples/s, {frac:.2f} of matmul, error vs keras float32 {err:.2e}")
    return out


def _cluster(stack: contextlib.ExitStack, a, on_gpu: bool):
    """(client, description): one dask-cuda worker per GPU; else one worker of --threads task
    threads sharing the GPU (dask-cuda missing or failing to start); else --workers CPU workers."""
    from seisbatch import engine

    if on_gpu and engine.local_gpus():
        try:
            import dask_cuda  # noqa: F401

            return stack.enter_context(engine.dask_client(gpu=True)), "dask-cuda: one worker per GPU, GPU=1 each"
        except Exception as e:  # noqa: BLE001 - measured without it, and said so
            why = "not installed" if isinstance(e, ImportError) else f"failed to start: {type(e).__name__}: {e}"
        return (stack.enter_context(engine.dask_client(workers=1, threads_per_worker=a.threads)),
                f"1 worker x {a.threads} threads sharing the GPU (dask-cuda {why})")
    return stack.enter_context(engine.dask_client(workers=a.workers)), f"{a.workers} CPU workers"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inlines", type=int, default=None, help="survey inlines (default 64 on a GPU, 16 on a CPU)")
    p.add_argument("--crosslines", type=int, default=None, help="crosslines (default 1024 on a GPU, 400 on a CPU)")
    p.add_argument("--samples", type=int, default=None, help="samples per trace (default 1024 on a GPU, 800 on a CPU)")
    p.add_argument("--precision", default="float32,bfloat16", help="compute precisions to measure (default float32,bfloat16)")
    p.add_argument("--tile", default="512,1024", help="tile core TRACES,SAMPLES (default denoise's 512,1024)")
    p.add_argument("--batch", type=int, default=None, help="tiles per model call (default 8 on a GPU, 2 on a CPU)")
    p.add_argument("--threads", type=int, default=4, help="task threads of the GPU worker without dask-cuda (default 4)")
    p.add_argument("--workers", type=int, default=2, help="CPU workers when there is no GPU (default 2)")
    p.add_argument("--matmul-n", type=int, default=None, help="matmul size (default 8192 on a GPU, 2048 on a CPU)")
    p.add_argument("--tasks-per-gpu", default=None,
                   help="with dask-cuda: values of the setting denoise.tasks-per-gpu to compare, e.g. 2,4,8 "
                        "(default: the setting's value); each runs warm on a cluster of its own")
    p.add_argument("--parts", type=int, default=3, help="blocks timed part by part in this process (default 3; 0: none)")
    p.add_argument("--no-pipeline", action="store_true", help="only the matmul rate and the bare model")
    p.add_argument("--json", default=None, help="also write the figures to this JSON file")
    a = p.parse_args()

    import keras

    from seisbatch import model as dncnn

    backend, gpu = accelerator()
    on_gpu = gpu is not None
    inlines = a.inlines or (64 if on_gpu else 16)
    crosslines = a.crosslines or (1024 if on_gpu else 400)
    samples = a.samples or (1024 if on_gpu else 800)
    batch = a.batch or (8 if on_gpu else 2)
    n = a.matmul_n or (8192 if on_gpu else 2048)
    tile = tuple(int(v) for v in a.tile.split(","))
    fps = dncnn.flops_per_sample()
    print(f"device: {gpu or 'CPU only'} ({os.cpu_count()} CPU cores); Keras {keras.__version__}, backend {backend}")
    print(f"DnCNN: {fps / 1e6:.3f} MFLOP per output sample; tile {tile[0]}x{tile[1]}, batch {batch}")
    base_model = dncnn.load()
    figures: dict = {"device": gpu or "cpu", "backend": backend, "flops_per_sample": fps, "precisions": {}}
    for prec in a.precision.split(","):
        ceiling = matmul_tflops(prec, n)
        trained = bare(dncnn.with_precision(base_model, prec), tile, batch)
        sps = bare(dncnn.for_inference(base_model, prec), tile, batch)
        f = {"matmul_tflops": ceiling, "bare_samples_s": sps, "bare_tflops": sps * fps / 1e12,
             "bare_unfolded_samples_s": trained}
        figures["precisions"][prec] = f
        print(f"{prec:>9}: matmul {ceiling:8.2f} TFLOP/s | bare model {sps:>14,.0f} samples/s = "
              f"{f['bare_tflops']:7.2f} TFLOP/s, {f['bare_tflops'] / ceiling:.2f} of matmul "
              f"(with BatchNorm layers unfolded: {trained:,.0f}, {sps / trained:.2f}x)")
    ceilings = {prec: f["matmul_tflops"] for prec, f in figures["precisions"].items()}
    print("engines (seisbatch.engines, the same weights; keras above):")
    figures["engines"] = engine_rates(base_model, a.precision.split(","), tile, batch, ceilings)
    if not a.no_pipeline:
        pipeline(a, figures, inlines, crosslines, samples, tile, batch, on_gpu)
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(figures, fh, indent=2)


def parts(store_path: str, tile, batch: int, n_blocks: int, precisions: list[str]) -> dict:
    """One thread's time per part of a denoise task, on the pipeline's first blocks: read (Zarr,
    decompress), tile and blend (the model replaced by a copy), the model per precision, write
    (compress, Zarr). Samples/s of each; how many threads the CPU parts need to keep up with the model."""
    import zarr

    from seisbatch import model as dncnn
    from seisbatch import tiling

    amp = zarr.open_array(store=store_path, path="amplitude", mode="r")
    root = zarr.open_group(store_path, mode="r+")
    scratch = root.create_array("parts_scratch", shape=amp.shape, chunks=amp.chunks, dtype="float32",
                                fill_value=0.0, compressors=amp.compressors, overwrite=True)
    base = dncnn.load()
    models = {prec: dncnn.for_inference(base, prec) for prec in precisions}
    p = tiling.plan(amp.shape, amp.chunks, tile, dncnn.receptive_radius(base), "inline")
    times: dict[str, float] = {}
    n = 0
    for task in p.tasks[: n_blocks + 1]:  # the first block warms up (compilation) and is not counted
        counted = task.index > 0
        t = time.perf_counter()
        block = np.asarray(amp[p.region(task, read=True)], dtype=np.float32)
        dt = {"read": time.perf_counter() - t}
        t = time.perf_counter()
        out = tiling.denoise_block(block, p, task, lambda b: b.copy(), "crop", batch)
        dt["tile_blend"] = time.perf_counter() - t
        for prec, m in models.items():
            t = time.perf_counter()
            out = tiling.denoise_block(block, p, task, lambda b, m=m: dncnn.predict(m, b, batch), "crop", batch)
            dt[f"model_{prec}"] = time.perf_counter() - t - dt["tile_blend"]
        t = time.perf_counter()
        scratch[p.region(task)] = out
        dt["write"] = time.perf_counter() - t
        if counted:
            n += out.size
            for k, v in dt.items():
                times[k] = times.get(k, 0.0) + v
    del root["parts_scratch"]
    rates = {k: n / v for k, v in times.items()}
    cpu = 1 / sum(1 / rates[k] for k in ("read", "tile_blend", "write"))
    print(f"one thread, per part of a block ({n_blocks} blocks of {n // max(n_blocks, 1) / 1e6:.1f} M samples):")
    for k, v in rates.items():
        print(f"  {k:>16}: {v:>14,.0f} samples/s")
    for prec in precisions:
        print(f"  CPU parts together {cpu:,.0f} samples/s: {rates[f'model_{prec}'] / cpu:.1f} threads keep the "
              f"{prec} model busy")
    return rates


def pipeline(a, figures: dict, inlines: int, crosslines: int, samples: int, tile, batch: int, on_gpu: bool) -> None:
    """`seisbatch denoise`, Zarr to Zarr, cold and warm, per precision."""
    from seisbatch import convert, denoise, engine, synthetic

    os.makedirs(OUT, exist_ok=True)
    sgy, store = os.path.join(OUT, "gpu-bench.sgy"), os.path.join(OUT, "gpu-bench.zarr")
    spec = synthetic.SurveySpec(n_inline=inlines, n_crossline=crosslines, n_samples=samples, seed=9)
    t = time.perf_counter()
    synthetic.write_segy(sgy, spec, snr_db=5)
    with engine.dask_client(workers=min(8, os.cpu_count() or 1)) as c:
        convert.convert_segy(sgy, store, client=c, overwrite=True, chunks=(8, 256, samples))
    os.remove(sgy)
    total = inlines * crosslines * samples
    print(f"survey {inlines} x {crosslines} x {samples} = {total / 1e6:,.1f} M samples "
          f"({total * 4 / 2**30:.2f} GiB float32), made in {time.perf_counter() - t:.0f} s")
    if a.parts:
        figures["parts"] = parts(store, tile, batch, a.parts, list(figures["precisions"]))
    per_gpu = [int(v) for v in a.tasks_per_gpu.split(",")] if a.tasks_per_gpu else [None]
    for k, tpg in enumerate(per_gpu):
        with contextlib.ExitStack() as stack:
            if tpg is not None:
                stack.enter_context(dask.config.set({"seisbatch.denoise.tasks-per-gpu": tpg}))
            c, how = _cluster(stack, a, on_gpu)
            print(f"pipeline: seisbatch denoise, Zarr in -> Zarr out, {how}"
                  + (f", tasks-per-gpu {tpg}" if tpg is not None else ""))
            for prec, f in figures["precisions"].items():
                for state in ("cold", "warm") if k == 0 else ("warm-up", "warm"):
                    if state == "cold":
                        c.restart()  # workers start afresh: backend import and model load counted
                    if state == "warm-up":  # a new cluster's first run: not timed
                        denoise.denoise(store, None, denoise.DenoiseSpec(tile=tile, batch_size=batch, precision=prec,
                                                                         output=f"den_{prec}"), client=c, overwrite=True)
                        continue
                    t = time.perf_counter()
                    denoise.denoise(store, None, denoise.DenoiseSpec(tile=tile, batch_size=batch, precision=prec,
                                                                     output=f"den_{prec}"), client=c, overwrite=True)
                    sps = total / (time.perf_counter() - t)
                    if k == 0:
                        f[f"pipeline_{state}_samples_s"] = sps
                    if state == "warm" and tpg is not None:
                        f.setdefault("pipeline_warm_samples_s_by_tasks_per_gpu", {})[tpg] = sps
                    print(f"{prec:>9} {state}: {sps:>14,.0f} samples/s   {sps / f['bare_samples_s']:.2f} of the bare model   "
                          f"{sps * figures['flops_per_sample'] / 1e12 / f['matmul_tflops']:.2f} of matmul")
    shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
