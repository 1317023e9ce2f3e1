"""End-to-end `denoise` throughput beside the bare model on the same samples, in one run.

    python benchmarks/denoise.py [--inlines 16 --crosslines 400 --samples 800] [--workers 1,2] [--tile 512,1024]

Baseline: this process loads the same model and runs ``model.predict`` over every section of the
survey held in memory (scaled as the denoiser scales), whole sections in fixed batches: no tiles,
no halo, no I/O, no Dask. Pipeline: `seisbatch denoise` on a local cluster of 1 and 2 workers
(started before the clock), reading the store, tiling, blending and writing the output array.
Each pipeline runs twice on its cluster: cold (workers import TensorFlow and load the model, a
one-off cost of a few seconds) and warm (a second run on the same cluster, as in a working day that
denoises several surveys). Printed: samples/s of each and the pipeline/bare ratio (target: at least
0.9), and peak memory.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

import zarr

sys.path.insert(0, os.path.dirname(__file__))
from _measure import measure  # noqa: E402

from seisbatch import convert, denoise, engine, stats, synthetic  # noqa: E402
from seisbatch import model as dncnn  # noqa: E402

OUT = os.path.join(os.path.dirname(__file__), "output")


def bare(store: str, model_path: str | None, batch: int) -> float:
    """Samples/s of model.predict on every inline section of the survey (in memory, scaled), with
    the network in the inference form that denoise's workers run (BatchNorm folded)."""
    m = dncnn.for_inference(dncnn.load(model_path))
    root = zarr.open_group(store, mode="r")
    amp = root["amplitude"][:] * stats.scale_factor(root.attrs["seisbatch"]["stats"])
    dncnn.predict(m, amp[:batch], batch)  # warm-up: trace the function once
    t = time.perf_counter()
    dncnn.predict(m, amp, batch)
    return amp.size / (time.perf_counter() - t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inlines", type=int, default=16)
    p.add_argument("--crosslines", type=int, default=400)
    p.add_argument("--samples", type=int, default=800)
    p.add_argument("--workers", default="1,2", help="worker counts to run the pipeline with (default 1,2)")
    p.add_argument("--tile", default="512,1024", help="tile core TRACES,SAMPLES for the pipeline (default: denoise's)")
    p.add_argument("--batch", type=int, default=2, help="sections per predict call for the bare model, tiles for denoise")
    p.add_argument("--model", default=None, help="model (default: the shipped one)")
    a = p.parse_args()
    os.makedirs(OUT, exist_ok=True)
    spec = synthetic.SurveySpec(n_inline=a.inlines, n_crossline=a.crosslines, n_samples=a.samples, seed=9)
    sgy, store = os.path.join(OUT, "denoise-bench.sgy"), os.path.join(OUT, "denoise-bench.zarr")
    synthetic.write_segy(sgy, spec, snr_db=5)
    with engine.dask_client(workers=2) as c:
        convert.convert_segy(sgy, store, client=c, overwrite=True, chunks=(max(1, a.inlines // 2), 64, a.samples))
    n = a.inlines * a.crosslines * a.samples
    print(f"survey {a.inlines} x {a.crosslines} x {a.samples} = {n / 1e6:.1f} M samples; tile {a.tile}; {os.cpu_count()} cores")
    with measure() as mb:
        base = bare(store, a.model, a.batch)
    print(f"bare model.predict, whole sections, this process: {base:>10,.0f} samples/s   peak {mb['peak_rss'] / 2**20:,.0f} MB")
    t0, t1 = (int(v) for v in a.tile.split(","))
    for w in (int(v) for v in a.workers.split(",")):
        with engine.dask_client(workers=w) as c:
            c.wait_for_workers(w)
            for state in ("cold", "warm"):  # cold: workers start TensorFlow; warm: a second run on the same cluster
                with measure() as mp:
                    r = denoise.denoise(store, a.model, denoise.DenoiseSpec(tile=(t0, t1), batch_size=a.batch),
                                        client=c, workers=w, overwrite=True)
                sps = r["samples"] / mp["seconds"]
                print(f"seisbatch denoise, {w} worker(s), {state}: {sps:>10,.0f} samples/s   ratio to bare {sps / base:.2f}   "
                      f"peak {mp['peak_rss'] / 2**20:,.0f} MB (client + workers)   {r['tasks']} blocks, {r['tiles']} tiles")
    shutil.rmtree(store, ignore_errors=True)


if __name__ == "__main__":
    main()
