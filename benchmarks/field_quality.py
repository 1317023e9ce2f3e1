"""Denoising quality on real field data: the DnCNN beside f-x deconvolution, through the whole CLI.

For every real SEG-Y file given (default: the field surveys in ../shared/data/segy), noise is added
at --snr dB against the file's RMS, white and band-limited (5-50% of Nyquist along time, the random
noise field data carry after acquisition filters; --noise also offers "trace": 0-8% of Nyquist,
noise correlated along each trace and independent between traces, like swell or a bad coupling),
each written as a SEG-Y file with the original headers. Then, as a user would, with one command per step for all files:

    seisbatch convert *.sgy DIR
    seisbatch denoise DIR/*.zarr --method fx                       (f-x, the classical baseline)
    seisbatch denoise DIR/*.zarr --array NAME [--model M.keras]    (the shipped model, each --model)
    seisbatch export DIR/*.zarr OUT --array NAME

and every exported file is read back and compared with the original (noise-free) file. Printed, one
table per noise kind: SNR in, out and gain per file and contender, and means (all files, the files
held out from the shipped model's training, the files whose own noise does not cap the result);
and for the noise-free input: the output's SNR against the data (how far below the data a
contender's change on clean data lies; field data carry their own noise, which a good denoiser
also removes and which then counts as error) and edge fidelity (RMS change at the first and last
8 traces of each section over the interior's).

    python benchmarks/field_quality.py [FILE ...] [--model M.keras ...] [--adapt] [--noise white,band] [--snr 5] [--json out.json]

With --adapt, each noisy store (and each noise-free one: adapting must not damage clean data) also
gets its own model from `seisbatch adapt` on that store alone, and is denoised with it.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import warnings

import numpy as np
import segyio

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.join(HERE, "..", "..", "shared", "data", "segy")
DEFAULT_FILES = ["gundih_2D_Xline_12680.sgy", "penobscot_xl1155.sgy", "segyio_f3.sgy", "segyio_viking_small.segy",
                 "seismiclab_gom_cdp1010_nmo.sgy"]
NOISE = {"white": ("white", 0), "band": ("band-limited 5-50% of Nyquist", 1),
         "trace": ("trace-wise, 0-8% of Nyquist along each trace", 50)}  # label, seed offset
HELD_OUT = ("penobscot_xl1155", "segyio_f3")  # never in the shipped model's training data (its card)
EDGE = 8
CAP_DB = 20.0  # files whose noise-free output lies at least this far below the data count towards the gain target


def traces(path: str) -> np.ndarray:
    with segyio.open(path, ignore_geometry=True) as f:
        return np.asarray(f.trace.raw[:], dtype=np.float64)


def band_noise(shape: tuple[int, int], rng: np.random.Generator, band=(0.05, 0.5)) -> np.ndarray:
    n = rng.standard_normal(shape)
    spec = np.fft.rfft(n, axis=-1)
    f = np.fft.rfftfreq(shape[-1]) * 2
    spec[..., (f < band[0]) | (f > band[1])] = 0
    out = np.fft.irfft(spec, n=shape[-1], axis=-1)
    return out / out.std()


def write_noisy(src: str, dst: str, kind: str, snr_db: float, seed: int) -> None:
    """A copy of ``src`` with noise at ``snr_db`` against its RMS (over live traces), headers kept."""
    shutil.copyfile(src, dst)
    x = traces(src)
    live = np.abs(x).sum(axis=1) > 0
    rms = np.sqrt(np.mean(x[live] ** 2))
    rng = np.random.default_rng(seed)
    noise = (rng.standard_normal(x.shape) if kind == "white" else band_noise(x.shape, rng) if kind == "band"
             else band_noise(x.shape, rng, (0.0, 0.08)))
    y = x + rms * 10 ** (-snr_db / 20) * noise
    y[~live] = 0.0
    with segyio.open(dst, "r+", ignore_geometry=True) as f, warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # segyio's note on writing float32 into integer formats
        info = np.iinfo(np.int16) if f.format == 3 else np.iinfo(np.int32) if f.format == 2 else None
        if info is not None:
            y = np.clip(np.round(y), info.min, info.max)
        for i in range(len(y)):
            f.trace[i] = y[i].astype(np.float32)


def snr(clean: np.ndarray, x: np.ndarray) -> float:
    e = np.sum((x - clean) ** 2)
    return float(10 * np.log10(np.sum(clean**2) / e)) if e > 0 else float("inf")


def sections(store: str, n: int) -> list[np.ndarray]:
    """File-trace indices of each section as denoise cuts it: inline sections of a 3D store (its
    ``trace_order`` maps file traces to grid cells), the whole line otherwise."""
    import zarr

    from seisbatch.store import find_internal

    root = zarr.open_group(store, mode="r")
    shape = root["amplitude"].shape
    if len(shape) == 2:
        return [np.arange(n)]
    grid = np.full(int(np.prod(shape[:2])), -1, np.int64)
    grid[np.asarray(root[find_internal(root, "trace_order")][:])] = np.arange(n)
    return [row[row >= 0] for row in grid.reshape(shape[:2])]


def edge_ratio(clean: np.ndarray, out: np.ndarray, secs: list[np.ndarray]) -> float:
    """RMS change at the first and last EDGE traces of each section over the interior's."""
    d = out - clean
    edge = np.concatenate([np.r_[s[:EDGE], s[-EDGE:]] for s in secs if len(s) > 2 * EDGE] or [np.array([], int)])
    inner = np.concatenate([s[EDGE:-EDGE] for s in secs if len(s) > 2 * EDGE] or [np.array([], int)])
    if not len(edge) or not len(inner):
        return float("nan")
    e, i = np.sqrt(np.mean(d[edge] ** 2)), np.sqrt(np.mean(d[inner] ** 2))
    return float(e / i) if i > 0 else float("nan")


def leakage(x: np.ndarray, y: np.ndarray, secs: list[np.ndarray]) -> float:
    """qc's leakage, the correlation between the removed noise and the output, mean over sections."""
    vals = []
    for s in secs:
        ys, ns = y[s] - y[s].mean(), (x[s] - y[s]) - (x[s] - y[s]).mean()
        d = float(np.sqrt(np.vdot(ys, ys) * np.vdot(ns, ns)))
        vals.append(float(np.vdot(ys, ns)) / d if d else 0.0)
    return float(np.mean(vals))


def cli(*args: str) -> None:
    cmd = [sys.executable, "-m", "seisbatch", *args]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}\n{r.stderr[-2000:]}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", help="real SEG-Y files (default: the field surveys in ../shared/data/segy)")
    ap.add_argument("--model", action="append", default=[], help="another model to run beside the shipped one (repeat)")
    ap.add_argument("--snr", type=float, default=5.0, help="SNR of the added noise in dB (default 5)")
    ap.add_argument("--workers", type=int, default=2, help="local Dask workers (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="noise seed (default 0)")
    ap.add_argument("--adapt", action="store_true",
                    help="also adapt the shipped model to each noisy (and noise-free) store with `seisbatch adapt` and "
                         "denoise it with its own adapted model")
    ap.add_argument("--adapt-epochs", type=int, default=None, help="epochs of each adaptation (default: adapt's own)")
    ap.add_argument("--adapt-patches", type=int, default=None, help="patches per epoch of each adaptation (default: adapt's own)")
    ap.add_argument("--noise", default="white,band", help="noise kinds, comma-separated from white, band, trace "
                    "(default white,band); the noise-free case always runs")
    ap.add_argument("--adapt-kinds", default=None,
                    help="which stores get adapted, comma-separated from the --noise kinds and clean (default all); "
                         "the others are denoised with the shipped model in the adapted column")
    ap.add_argument("--adapt-loss", default="recorrupted",
                    help="adapt --loss, or several comma-separated, each a contender of its own (default recorrupted)")
    ap.add_argument("--keep", help="keep the files and stores in this directory (default: a temporary one)")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    kinds = args.noise.split(",")
    if not kinds or set(kinds) - set(NOISE):
        sys.exit(f"--noise {args.noise}: expected kinds from {', '.join(NOISE)}")
    files = [os.path.abspath(f) for f in args.files] or [os.path.join(SHARED, f) for f in DEFAULT_FILES]
    for f in files:
        if not os.path.isfile(f):
            sys.exit(f"{f}: not found (give the real SEG-Y files as arguments)")
    work = args.keep or tempfile.mkdtemp(prefix="field_quality-")
    os.makedirs(work, exist_ok=True)
    t0 = time.perf_counter()
    inputs = []
    for i, f in enumerate(files):
        stem = os.path.splitext(os.path.basename(f))[0]
        for kind in (*kinds, "clean"):
            dst = os.path.join(work, f"{stem}__{kind}.sgy")
            if kind == "clean":
                shutil.copyfile(f, dst)
            else:
                write_noisy(f, dst, kind, args.snr, args.seed * 100 + i * 2 + NOISE[kind][1])
            inputs.append(dst)
    stores = os.path.join(work, "stores")
    workers = ["--workers", str(args.workers), "--quiet"]
    cli("convert", *inputs, stores, "--overwrite", *workers)
    zarrs = [os.path.join(stores, os.path.splitext(os.path.basename(p))[0] + ".zarr") for p in inputs]
    contenders = {"f-x": ["--method", "fx", "--array", "fx"], "DnCNN (shipped)": ["--array", "dncnn"]}
    for k, m in enumerate(args.model):
        contenders[f"DnCNN {os.path.basename(m)}"] = ["--array", f"model{k}", "--model", os.path.abspath(m)]
    timings, adapt_seconds = {}, []
    exported = os.path.join(work, "exported")
    for name, opts in contenders.items():
        t = time.perf_counter()
        cli("denoise", *zarrs, *opts, "--overwrite", *workers)
        cli("export", *zarrs, exported, "--array", opts[opts.index("--array") + 1], "--overwrite", *workers)
        timings[name] = time.perf_counter() - t
    for loss in args.adapt_loss.split(",") if args.adapt else []:
        name, array = f"adapted ({loss})", "adapted_" + loss.replace("-", "_")
        contenders[name] = ["--array", array]
        t = time.perf_counter()
        adapted_kinds = args.adapt_kinds.split(",") if args.adapt_kinds else [*kinds, "clean"]
        sizes = [*(["--epochs", str(args.adapt_epochs)] if args.adapt_epochs else []),
                 *(["--patches", str(args.adapt_patches)] if args.adapt_patches else [])]
        for z in zarrs:
            if z[: -len(".zarr")].rsplit("__", 1)[1] not in adapted_kinds:
                cli("denoise", z, "--array", array, "--overwrite", *workers)
                continue
            model = os.path.join(work, "adapted", loss, os.path.basename(z)[: -len(".zarr")] + ".keras")
            os.makedirs(os.path.dirname(model), exist_ok=True)
            ta = time.perf_counter()
            cli("adapt", z, "--out", model, "--overwrite", *sizes, "--loss", loss, *workers)
            adapt_seconds.append((f"{os.path.basename(z)} ({loss})", time.perf_counter() - ta))
            cli("denoise", z, "--model", model, "--array", array, "--overwrite", *workers)
        print("adapt seconds per store: " + ", ".join(f"{n} {t:.0f}" for n, t in adapt_seconds), flush=True)
        cli("export", *zarrs, exported, "--array", array, "--overwrite", *workers)
        timings[name] = time.perf_counter() - t
    rows = []
    for f in files:
        stem = os.path.splitext(os.path.basename(f))[0]
        clean = traces(f)
        secs = sections(os.path.join(stores, f"{stem}__clean.zarr"), len(clean))
        row = {"file": stem, "held_out": stem in HELD_OUT}
        for name, opts in contenders.items():
            arr = opts[opts.index("--array") + 1]
            r = {}
            for kind in (*kinds, "clean"):
                x = traces(os.path.join(work, f"{stem}__{kind}.sgy"))
                y = traces(os.path.join(exported, f"{stem}__{kind}_{arr}.sgy"))
                if kind == "clean":
                    r["clean_db"], r["edge"] = snr(clean, y), edge_ratio(clean, y, secs)
                else:
                    r[kind] = {"in": snr(clean, x), "out": snr(clean, y), "leakage": leakage(x, y, secs)}
            row[name] = r
        rows.append(row)
    clean_adapted = not args.adapt_kinds or "clean" in args.adapt_kinds.split(",")
    report(rows, list(contenders), kinds, args.snr, timings, time.perf_counter() - t0, clean_adapted)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"snr": args.snr, "rows": rows, "seconds": timings, "adapt_seconds": dict(adapt_seconds)}, fh, indent=1)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


def report(rows: list[dict], names: list[str], kinds: list[str], snr_db: float, timings: dict, wall: float,
           clean_adapted: bool = True) -> None:
    short = {n: n.replace("DnCNN ", "").replace("(shipped)", "shipped") for n in names}
    for kind in kinds:
        label = NOISE[kind][0]
        print(f"\n{label} noise at {snr_db:g} dB: SNR out (gain) in dB")
        print("| file | in | " + " | ".join(short[n] for n in names) + " | best DnCNN - f-x |")
        print("|---|---:|" + "---:|" * len(names) + "---:|")
        groups: dict[str, list[dict]] = {"mean, all files": rows, "mean, held out of training": [r for r in rows if r["held_out"]],
                                         f"mean, noise-free output >= {CAP_DB:g} dB": [
                                             r for r in rows if r[names[1]]["clean_db"] >= CAP_DB]}
        for r in rows:
            cells = [f"{r[n][kind]['out']:.2f} ({r[n][kind]['out'] - r[n][kind]['in']:+.2f})" for n in names]
            best = max(r[n][kind]["out"] for n in names[1:]) - r[names[0]][kind]["out"]
            tag = " (held out)" if r["held_out"] else ""
            print(f"| {r['file']}{tag} | {r[names[0]][kind]['in']:.2f} | " + " | ".join(cells) + f" | {best:+.2f} |")
        for g, sel in groups.items():
            if not sel:
                continue
            gains = [np.mean([r[n][kind]["out"] - r[n][kind]["in"] for r in sel]) for n in names]
            best = max(np.mean([r[n][kind]["out"] - r[names[0]][kind]["out"] for r in sel]) for n in names[1:])
            print(f"| **{g}** ({len(sel)}) | | " + " | ".join(f"({g_:+.2f})" for g_ in gains) + f" | {best:+.2f} |")
        print("| leakage x 100, mean | | " + " | ".join(f"{100 * np.mean([r[n][kind]['leakage'] for r in rows]):.1f}"
                                                      for n in names) + " | |")
    print("\nnoise-free input: output SNR against the data (dB) / edge fidelity (RMS change at the first and last "
          f"{EDGE} traces over the interior's)")
    print("| file | " + " | ".join(short[n] for n in names) + " |")
    print("|---|" + "---:|" * len(names))
    for r in rows:
        print(f"| {r['file']} | " + " | ".join(f"{r[n]['clean_db']:.2f} / {r[n]['edge']:.2f}" for n in names) + " |")
    if {"white", "band"} <= set(kinds):
        targets(rows, names[:2])
    for n in names:
        if n.startswith("adapted"):
            adapted_targets(rows, names[0], names[1], n, kinds[0], clean_adapted)
    print("\nseconds per contender (denoise + export of all stores): "
          + ", ".join(f"{short[n]} {t:.1f}" for n, t in timings.items()) + f"; whole run {wall:.0f} s")


def targets(rows: list[dict], names: list[str]) -> None:
    """The field-quality targets, on the files held out of the shipped model's training."""
    fx_name, model = names
    held = [r for r in rows if r["held_out"]] or rows
    uncapped = [r for r in held if r[model]["clean_db"] >= CAP_DB]

    def over_fx(kind: str) -> float:
        return float(np.mean([r[model][kind]["out"] - r[fx_name][kind]["out"] for r in held]))

    cleanest = max(held, key=lambda r: r[model]["clean_db"])
    lines = [
        (f"white noise: the shipped DnCNN above f-x, mean over {len(held)} held-out files", over_fx("white"), 3.0, "dB"),
        ("band-limited noise: the shipped DnCNN above f-x, same files", over_fx("band"), 2.0, "dB"),
    ]
    if uncapped:
        gain = float(np.mean([r[model]["white"]["out"] - r[model]["white"]["in"] for r in uncapped]))
        lines.append((f"white noise: mean gain on held-out files whose noise-free output is >= {CAP_DB:g} dB "
                      f"({', '.join(r['file'] for r in uncapped)})", gain, 10.0, "dB"))
    lines.append((f"noise-free output of the cleanest held-out file ({cleanest['file']})", cleanest[model]["clean_db"], 25.0, "dB"))
    edges = [r[model]["edge"] for r in rows if np.isfinite(r[model]["edge"])]
    print("\ntargets (shipped DnCNN):")
    for text, value, goal, unit in lines:
        print(f"  {text}: {value:.2f} {unit} (target >= {goal:g}: {'met' if value >= goal else 'NOT met'})")
    if edges:
        worst = max(edges)
        print(f"  edge fidelity, worst file: {worst:.2f} (target <= 1.5: {'met' if worst <= 1.5 else 'NOT met'})")


def adapted_targets(rows: list[dict], fx_name: str, shipped: str, adapted: str, kind: str, clean_adapted: bool) -> None:
    """The adaptation targets (set for white noise), over all files (adapting uses no clean data,
    so none is held out)."""
    def mean(f) -> float:
        return float(np.mean([f(r) for r in rows]))

    over_shipped = mean(lambda r: r[adapted][kind]["out"] - r[shipped][kind]["out"])
    over_fx = mean(lambda r: r[adapted][kind]["out"] - r[fx_name][kind]["out"])
    cleanest = max(rows, key=lambda r: r[shipped]["clean_db"])
    uncapped = [r for r in rows if r[shipped]["clean_db"] >= CAP_DB]
    lines = [("above the shipped model", over_shipped, 2.0), ("above f-x", over_fx, 3.0)]
    if uncapped:
        lines.append((f"mean gain on the files whose noise-free output is >= {CAP_DB:g} dB "
                      f"({', '.join(r['file'] for r in uncapped)})",
                      float(np.mean([r[adapted][kind]["out"] - r[adapted][kind]["in"] for r in uncapped])), 10.0))
    if clean_adapted:
        lines.append((f"noise-free output of the cleanest file ({cleanest['file']}), adapted to it",
                      cleanest[adapted]["clean_db"], 25.0))
    print(f"targets ({adapted}, {kind} noise, mean over {len(rows)} files):")
    for text, value, goal in lines:
        print(f"  {text}: {value:.2f} dB (target >= {goal:g}: {'met' if value >= goal else 'NOT met'})")
    leak = {n: 100 * mean(lambda r, n=n: abs(r[n][kind]["leakage"])) for n in (shipped, adapted)}
    print(f"  |leakage| x 100, mean: {leak[adapted]:.1f} against the shipped model's {leak[shipped]:.1f} "
          f"(target: no worse: {'met' if leak[adapted] <= leak[shipped] else 'NOT met'})")


if __name__ == "__main__":
    main()
