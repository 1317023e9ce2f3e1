"""``seisbatch denoise``: the settings resolved into one DenoiseSpec, then each store denoised on one cluster."""

from __future__ import annotations

import argparse
import sys
import time

from .. import progress
from ..errors import SeisbatchError
from ..tiling import DOMAINS
from .common import Renamed, client_args, client_kwargs, count, csv, naming


def add_parser(sub) -> None:
    from .. import config

    def d(key: str):  # the settings in effect: --help shows what a run would use
        return config.get(f"denoise.{key}")

    n = sub.add_parser("denoise", help="denoise a store with the DnCNN on a Dask cluster",
                       description="Denoise the amplitude of a store in overlapping 2D tiles on Dask workers that each "
                                   "hold the model, and write the result as a new array in the same store (the input is "
                                   "never written). An interrupted run continues where it stopped when started again. "
                                   "Several stores (the lines of a 2D survey) are denoised one after the other on one "
                                   "cluster, whose workers load the model once. "
                                   "The defaults below are the shipped settings; `seisbatch config` shows the ones in "
                                   "effect (Dask config files and DASK_SEISBATCH__DENOISE__* variables change them).")
    n.add_argument("store", nargs="+", metavar="STORE",
                   help="seisbatch Zarr store(s) (from `seisbatch convert`); each is checked before any work starts")
    n.add_argument("--method", default=None, choices=["dncnn", "fx"],
                   help=f"default {d('method')}. dncnn: the model; fx: f-x deconvolution (Canales 1984), the classical baseline, "
                        "through the same tiles, tasks and resume, with no model (--fx-* options)")
    n.add_argument("--model", default=None, help="model file (.keras or .weights.h5; default: the pretrained model shipped with seisbatch)")
    n.add_argument("--output", dest="output", action=Renamed, new="--array")
    n.add_argument("--array", dest="output", default=None, metavar="NAME",
                   help="name of the output array in the store (default: denoised for dncnn, fxdecon for fx; setting "
                        "seisbatch.denoise.output): letters, digits, '_' and '-'; a new array or one an earlier denoise "
                        "wrote, never the store's own arrays")
    n.add_argument("--fx-filter", type=int, default=None,
                   help=f"f-x: prediction filter length in traces, fitted forward and backward (default {d('fx-filter')})")
    n.add_argument("--fx-window", default=None, metavar="TRACES,SAMPLES",
                   help="f-x: window size in traces and samples, overlapping by half and tapered "
                        f"(default {csv(d('fx-window'))}); "
                        "longer windows smooth more, shorter ones follow curved events")
    n.add_argument("--fx-damping", type=float, default=None,
                   help=f"f-x: least-squares damping relative to each frequency's power (default {d('fx-damping'):g})")
    n.add_argument("--direction", default=None, choices=["inline", "crossline"],
                   help=f"sections of a 3D store to denoise (default {d('direction')}); a 2D line is one section")
    n.add_argument("--domain", default=None, choices=list(DOMAINS),
                   help="pre-stack gathers: gather (default) denoises each gather as an offset (or channel) x sample "
                        "section; offset denoises common-offset (common-channel) sections, along cdp, shot, or in a "
                        "3D CMP store the --direction's lines. No tile holds traces of two gathers (gather) or of "
                        "two offsets (offset), so amplitude versus offset is never mixed across gathers")
    n.add_argument("--restore", default=None, action=argparse.BooleanOptionalAction,
                   help="put back the signal left in the removed noise: local signal-and-noise orthogonalization "
                        "(Chen & Fomel 2015) in windows of 9 traces x 21 samples. Keeps amplitude versus offset "
                        "(synthetic CMP gathers: largest AVO gradient error 14%% -> 7%%) for about 1 dB of SNR. "
                        "Default: on for pre-stack gathers, off for post-stack data")
    t = n.add_argument_group("trial runs", "denoise a part first, to try settings: only the blocks that meet it are "
                             "computed into the output, which `qc` then shows; the same command without these "
                             "options finishes the survey, keeping those blocks")
    t.add_argument("--inlines", metavar="A:B", help="inline numbers A to B (inclusive)")
    t.add_argument("--crosslines", metavar="A:B", help="crossline numbers A to B")
    t.add_argument("--samples", "--time", metavar="A:B", dest="samples",
                   help="sample axis from A to B, in the store's units (ms, or m for depth)")
    t.add_argument("--subset", metavar="DIM=A:B", action="append", default=[],
                   help="any other dim's coordinates, e.g. trace=0:199, cdp=1000:1100, offset=100:800 (repeatable)")
    n.add_argument("--tile", default=None, help=f"largest tile core TRACES,SAMPLES (default {csv(d('tile'))}); sections are "
                   "cut into balanced tiles no larger than this, each read with the halo around it")
    n.add_argument("--halo", type=int, default=None,
                   help="samples of context around each tile (default: the model's receptive radius, 17, which makes "
                        "crop blending exactly equal to whole-section inference); f-x always reads one f-x window "
                        "around each block, which makes it equal to whole-section f-x")
    n.add_argument("--blend", default=None, choices=["crop", "taper"],
                   help="crop: keep each tile's core (exact with the default halo); taper: overlap-add with raised-cosine "
                        f"ramps (seam-free with a halo smaller than the receptive radius). Default {d('blend')}")
    n.add_argument("--batch-size", type=int, default=None, help=f"tiles per model call (default {d('batch-size')}; raise it on GPUs)")
    n.add_argument("--device", default=None, choices=["auto", "cpu", "gpu"], help=f"where workers run the model (default {d('device')})")
    n.add_argument("--precision", default=None, choices=["float32", "bfloat16", "float16"],
                   help=f"compute precision of the model (default {d('precision')}). Half precision roughly doubles GPU "
                        "throughput; weights stay float32 and `seisbatch qc` reports the error against float32")
    n.add_argument("--engine", default=None, choices=["auto", "keras", "onnx", "jax"],
                   help=f"who runs the model's weights (default {d('engine')}): keras (its backend, the default), onnx "
                        "(ONNX Runtime with TensorRT, CUDA or CPU; float32 or float16), jax (jax.lax convolutions, jit; "
                        "float32 or bfloat16); all compute the same function (tested against keras)")
    n.add_argument("--gpu", action="store_true", help="start one local worker per GPU (dask-cuda's LocalCUDACluster, from "
                   "the gpu extra) instead of CPU workers; model tasks then run one per GPU")
    n.add_argument("--overwrite", action="store_true", help="replace an existing output array made by another model or parameters")
    n.add_argument("--quiet", action="store_true", help="no progress bar")
    client_args(n)
    n.set_defaults(func=cmd_denoise)


def _subset(args: argparse.Namespace, where: str) -> tuple[tuple[str, float, float], ...]:
    """The trial options as (dim, first, last) coordinate ranges."""
    given = [("inline", args.inlines), ("crossline", args.crosslines), ("sample", args.samples)]
    for item in args.subset:
        dim, eq, span = item.partition("=")
        if not eq:
            raise SeisbatchError(where, f"--subset {item!r}: expected DIM=A:B, e.g. cdp=1000:1100")
        given.append((dim.strip(), span))
    out = []
    for dim, span in given:
        if span is None:
            continue
        a, colon, b = span.partition(":")
        try:
            out.append((dim, float(a), float(b if colon else a)))
        except ValueError:
            raise SeisbatchError(where, f"{dim} range {span!r}: expected A:B (numbers)") from None
    return tuple(out)


def _pair(text: str) -> tuple[int, int]:
    a, _, b = text.partition(",")
    return int(a), int(b or a)


def cmd_denoise(args: argparse.Namespace) -> int:
    from .. import denoise, engine, stats, store

    given = {k: getattr(args, k) for k in ("method", "output", "direction", "domain", "restore", "engine", "halo", "blend", "batch_size", "device",
                                            "precision", "fx_filter", "fx_damping")
             if getattr(args, k) is not None}  # the rest comes from the settings (seisbatch config)
    stores = list(dict.fromkeys(args.store))  # each once, in the order given
    for opt in ("tile", "fx_window"):
        if getattr(args, opt) is not None:
            try:
                given[opt] = _pair(getattr(args, opt))
            except ValueError:
                raise SeisbatchError(stores[0], f"--{opt.replace('_', '-')} {getattr(args, opt)!r}: expected TRACES or "
                                                "TRACES,SAMPLES") from None
    given["subset"] = _subset(args, stores[0])
    try:
        spec = denoise.DenoiseSpec(**given)  # every value checked, before any cluster starts
    except ValueError as exc:
        raise SeisbatchError(stores[0], str(exc)) from None
    for path in stores:  # a missing or half-converted store stops the job before any cluster starts
        with naming(path):  # an error names the store it happened in
            root = denoise.check(path, spec)
        why = stats.not_seismic(store.meta(root).get("stats"))
        if why and spec.method == "dncnn":
            print(f"seisbatch: warning: {path}: {why}", file=sys.stderr)
    t0, total = time.perf_counter(), 0
    with engine.dask_client(**client_kwargs(args)) as client:
        for k, path in enumerate(stores, 1):
            label = "denoise" if len(stores) == 1 else f"denoise {k}/{len(stores)}"
            tiles = spec.method == "dncnn"  # the model's bar moves per tile (f-x blocks are quick)
            update, close = progress.bar(label, args.quiet, unit="tile" if tiles else "task")
            with naming(path):
                r = denoise.denoise(path, args.model, spec, client=client,
                                    workers=len(client.scheduler_info()["workers"]), overwrite=args.overwrite,
                                    **{"tile_progress" if tiles else "progress": update})
            close()
            _print_denoised(path, r)
            total += 0 if r["already_complete"] else r["computed_samples"]
    if len(stores) > 1:
        wall = time.perf_counter() - t0
        print(f"{len(stores)} stores in {wall:.1f} s, {total / wall:,.0f} samples/s computed")
    return 0


def _print_denoised(path: str, r: dict) -> None:
    if r["already_complete"]:
        what = "these parameters" if r.get("method") == "fx" else "this model and these parameters"
        print(f"{path}: array {r['output']!r} is already complete with {what}")
        return
    if r.get("trial"):
        t = r["trial"]
        where = ", ".join(f"{d} {lo:g}..{hi:g}" for d, lo, hi in t["subset"])
        print(f"trial over {where}: {t['blocks']} of {r['tasks']} blocks written to array {r['output']!r} "
              f"({r['computed']} computed now); look with `seisbatch qc {path}"
              + (f" --array {r['output']}" if r["output"] != "denoised" else "") + "`, and run again without the subset "
              "to finish the survey from them")
    resumed = f", {r['resumed']} already done by an earlier run" if r["resumed"] else ""
    print(f"denoised {path} -> array {r['output']!r}: {count(r['tasks'], 'block')} ({r['computed']} computed{resumed}), "
          f"{count(r['tiles'], 'tile')}, {r['samples']:,} samples, {r['sections']} sections")
    how = (f"f-x deconvolution, halo {r['halo']}" if r.get("method") == "fx" else
           f"model digest {r['model_digest'][:12]}, halo {r['halo']}, {r['precision']}")
    if r.get("restore"):
        how += ", lost signal restored (--no-restore to skip)"
    print(f"{r['seconds']:.1f} s, {r['samples_per_s']:,.0f} samples/s on {count(r['workers'], 'worker')}; {how}")
