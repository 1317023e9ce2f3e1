"""The ``seisbatch`` command line. Library functions return values; only this module prints."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from . import __version__, cli_adapt
from .errors import SeisbatchError, as_os_error

GEOMETRY_HELP = (
    "survey geometry: auto (detect), 3d (inline x crossline grid), 2d (a line, stored as trace x "
    "sample), traces (pre-stack or unsorted, file order)"
)


def _count(n: int, noun: str) -> str:
    """'1 block', '2 blocks'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _progress(desc: str, quiet: bool, unit: str = "task",
              delay: float = 0.0) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A tqdm bar fed by (done, total) callbacks, and its closer; with ``delay``, shown only once
    the work has taken that many seconds (a quick look stays quiet)."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, delay=delay,
                              unit_scale=unit != "task")
        if delay:
            bar["bar"].update(done - bar["bar"].n)  # shown only once ``delay`` has passed
        else:
            bar["bar"].n = done
            bar["bar"].refresh()
        if done >= total:  # finished: the line stays, and the next phase's bar starts below it
            bar["bar"].close()

    return update, lambda: bar["bar"].close() if "bar" in bar else None


def _client_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("cluster")
    g.add_argument("--workers", type=int, default=None,
                   help="worker processes of the embedded local cluster (default: setting seisbatch.workers, else one "
                        "per CPU core, at most 8)")
    g.add_argument("--scheduler", default=None,
                   help="address (tcp://host:port) or scheduler-file of an existing Dask cluster to use "
                        "instead of starting a local one (default: setting seisbatch.scheduler, unset)")


def _client_kwargs(args: argparse.Namespace) -> dict:
    from . import engine

    kw = {"scheduler": args.scheduler, "workers": args.workers or engine.default_workers()}
    if getattr(args, "gpu", False):
        kw["gpu"] = True
    return kw


def _batch_outputs(inputs: list[str], output: str, suffix: str) -> list[tuple[str, str]]:
    """(input, output) pairs: one input writes ``output`` itself; several write NAME``suffix`` each
    (NAME: the input's file name without its extension) into the directory ``output``, made if
    missing. Every input must exist and no two may share a NAME; checked before any work."""
    from . import store

    inputs = list(dict.fromkeys(inputs))  # each once, in the order given
    if len(inputs) == 1:
        return [(inputs[0], output)]
    for path in inputs:
        if not store.is_url(path) and not os.path.exists(path):
            raise SeisbatchError(path, "no such file")
    names: dict[str, str] = {}
    for path in inputs:
        name = os.path.splitext(os.path.basename(path.rstrip("/")))[0]
        if name in names:
            raise SeisbatchError(path, f"has the same name as {names[name]}: their outputs would be one "
                                       f"({name}{suffix}); convert or export them in separate commands")
        names[name] = path
    if store.is_url(output):
        return [(path, f"{output.rstrip('/')}/{name}{suffix}") for name, path in names.items()]
    if os.path.exists(output) and (not os.path.isdir(output) or store.is_zarr_dir(output)):
        raise SeisbatchError(output, f"with {len(inputs)} inputs the last argument is a directory for their outputs, "
                                     "and this is a file or a Zarr store")
    os.makedirs(output, exist_ok=True)
    return [(path, os.path.join(output, name + suffix)) for name, path in names.items()]


def _already_converted(src: str, dst: str) -> bool:
    """Whether ``dst`` is a complete store converted from the file ``src`` as it is now (path,
    size, modification time): a batch run again skips it."""
    from . import store

    try:
        return store.same_source(store.meta(store.open_complete(dst)).get("source", {}), store.source_id(src))
    except (SeisbatchError, OSError):
        return False


def cmd_convert(args: argparse.Namespace) -> int:
    from . import convert, engine

    jobs = _batch_outputs(args.input, args.output, ".zarr")
    chunks = convert.parse_chunks(args.chunks)  # checked before a cluster starts
    done, skipped, failed = 0, 0, []
    with engine.dask_client(**_client_kwargs(args)) as client:
        for k, (src, dst) in enumerate(jobs, 1):
            args.output = dst  # an OSError names the store being written
            if len(jobs) > 1 and not args.overwrite and _already_converted(src, dst):
                print(f"{src} -> {dst}: already converted (--overwrite converts it again)")
                skipped += 1
                continue
            label = "convert" if len(jobs) == 1 else f"convert {k}/{len(jobs)}"
            try:
                summary = _convert_one(args, client, src, dst, chunks, label)
            except SeisbatchError as exc:
                if len(jobs) == 1:
                    raise
                print(f"seisbatch: error: {exc}", file=sys.stderr)  # a bad file does not stop the others
                failed.append(src)
                continue
            _print_converted(src, dst, summary)
            done += 1
    if len(jobs) > 1:
        print(f"{len(jobs)} inputs: {done} converted, {skipped} already converted, {len(failed)} failed"
              + (f" ({', '.join(failed)})" if failed else ""))
    return 2 if failed else 0


def _convert_one(args: argparse.Namespace, client, src: str, dst: str, chunks: tuple[int, ...] | None,
                 label: str) -> dict:
    import h5py

    from . import convert
    from .mdio_source import is_mdio

    update, close = _progress(label, args.quiet)
    scan_update, scan_close = _progress("scan headers", args.quiet)
    try:
        if is_mdio(src):
            if args.checksum:
                raise SeisbatchError(src, "--checksum is for SEG-Y and HDF5 files; an MDIO store is a directory")
            return convert.convert_mdio(src, dst, client=client, chunks=chunks, overwrite=args.overwrite,
                                        progress=update, compression=args.compression)
        if os.path.isfile(src) and h5py.is_hdf5(src):
            return convert.convert_hdf5(
                src, dst, dataset=args.dataset, axes=args.axes, sample_interval=args.sample_interval,
                sample_units=args.sample_units, client=client, chunks=chunks, overwrite=args.overwrite, progress=update,
                checksum=args.checksum, compression=args.compression,
            )
        return convert.convert_segy(
            src, dst, client=client, inline_byte=args.inline_byte, crossline_byte=args.crossline_byte,
            geometry_kind=args.geometry, endian=args.endian, chunks=chunks, sample_units=args.sample_units,
            overwrite=args.overwrite, progress=update, checksum=args.checksum, compression=args.compression,
            scan_progress=scan_update,
        )
    finally:
        scan_close()
        close()


def _print_converted(src: str, dst: str, summary: dict) -> None:
    s = summary["stats"]
    print(f"{src} -> {dst}: {summary['geometry']} survey {' x '.join(map(str, summary['shape']))}, "
          f"{_count(summary['traces'], 'trace')} in {_count(summary['blocks'], 'block')}; rms {s['rms']:.4g}, |a| p99 {s['abs_p99']:.4g}")
    for note in summary["notes"]:
        print(f"note: {note}")
    if summary["raw_traces"]:
        print(f"note: {summary['raw_traces']} traces are not exact in float32; their raw samples are kept for export")


def cmd_export(args: argparse.Namespace) -> int:
    from . import engine, export

    jobs = _batch_outputs(args.store, args.output, f"_{args.array}.sgy")
    with engine.dask_client(**_client_kwargs(args)) as client:
        if len(jobs) > 1:
            for path, out in jobs:  # every store and output checked before any work
                args.store = path
                export.check(path, out, args.array, args.overwrite)
        for k, (path, out) in enumerate(jobs, 1):
            args.store, args.output = path, out  # an error names the store and file of this export
            update, close = _progress("export" if len(jobs) == 1 else f"export {k}/{len(jobs)}", args.quiet)
            try:
                r = export.export_segy(path, out, array=args.array, client=client, overwrite=args.overwrite,
                                       progress=update)
            finally:
                close()
            print(f"{path}[{args.array}] -> {out}: {r['traces']} traces, {r['bytes']} bytes")
    return 0


def _fmt_stats(s: dict | None) -> str:
    if not s:
        return "none recorded"
    return (f"min {s['min']:.4g}  max {s['max']:.4g}  mean {s['mean']:.4g}  std {s['std']:.4g}  rms {s['rms']:.4g}  "
            f"|a| p50 {s['abs_p50']:.4g} p99 {s['abs_p99']:.4g}  ({s['count']} live samples, {s.get('nonfinite', 0)} non-finite)")


def format_info(d: dict) -> str:
    """Human-readable summary of :func:`seisbatch.info.describe` output."""
    lines = [f"{d['path']} ({d['kind']})"]
    if d["kind"] == "hdf5":
        for k, shape in d["datasets"].items():
            st = d.get("stats", {}).get(k)
            values = f"  min {st['min']:.4g}  max {st['max']:.4g}  rms {st['rms']:.4g}" if st else ""
            lines.append(f"  dataset /{k}: shape {tuple(shape)} {d['dtypes'][k]}{values}")
        for k, p in d.get("patches", {}).items():
            lines.append(f"  /{k} holds {p['count']} training patches of {p['size'][0]}x{p['size'][1]} (not a survey; use `seisbatch train`)")
        return "\n".join(lines)
    if d["kind"] == "mdio":
        kept = [k for k, v in (("trace headers", d["trace_headers"]), ("textual header", d["text_header"]),
                               ("binary header", d["binary_header"])) if v]
        lines += [f"  MDIO {d['api_version']}, variable {d['variable']!r}: " + "  ".join(f"{k}={v}" for k, v in d["dims"].items()),
                  f"  samples:    {d['sample_range'][0]:g}..{d['sample_range'][1]:g} {d['sample_units']}",
                  f"  traces:     {d['live_traces']} live",
                  f"  kept:       {', '.join(kept) or 'no headers'} (what is missing is made up by convert)",
                  "  convert it with `seisbatch convert` to denoise it"]
        return "\n".join(lines)
    geom = d.get("geometry", {})
    lines.append(f"  geometry:   {geom.get('kind', '?')}" + "".join(f"\n              note: {n}" for n in geom.get("notes", [])))
    lines.append("  dims:       " + "  ".join(f"{k}={v}" for k, v in d["dims"].items()))
    lines.append(f"  sampling:   {d['sample_interval']} {d['sample_units']}")
    if d["kind"] == "segy":
        lines += [f"  traces:     {d['traces']}", f"  format:     {d['format']}, {d['endian']}-endian",
                  f"  inlines:    {d['inline_range'][0]}..{d['inline_range'][1]}",
                  f"  crosslines: {d['crossline_range'][0]}..{d['crossline_range'][1]}"]
        return "\n".join(lines)
    lines.append(f"  state:      {d['state']}")
    lines.append(f"  chunks:     {tuple(d['chunks'])}, amplitude compression {d['compression']}")
    lines.append(f"  samples:    {d['sample_range'][0]:g}..{d['sample_range'][1]:g} {d['sample_units']}")
    lines.append(f"  traces:     {d['live_traces']} live of {d['grid_traces']}")
    if d.get("segy_format"):
        lines.append(f"  source:     {d['source']['path']} ({d['segy_format']})")
    elif d.get("source"):
        lines.append(f"  source:     {d['source']['path']} ({d['source'].get('format')})")
    lines.append(f"  amplitude:  {_fmt_stats(d.get('stats'))}")
    lines.append("  arrays:")
    for name, a in d["arrays"].items():
        status = "" if "complete" not in a else ("  complete" if a["complete"] else "  INCOMPLETE")
        if "complete" in a and not a["complete"] and a.get("progress"):
            status += f" ({a['progress']})"
        lines.append(f"    {name:<16} {a['dtype']:<8} {tuple(a['shape'])}{status}")
    return "\n".join(lines)


def cmd_info(args: argparse.Namespace) -> int:
    from . import info

    update, close = _progress("scan headers", args.quiet, unit="trace", delay=1.0)
    try:
        d = info.describe(args.path, args.inline_byte, args.crossline_byte, progress=update)
    finally:
        close()
    if args.json:
        if not args.text_header:
            d.pop("text_header", None)
        print(json.dumps(d, indent=2, default=str))
        return 0
    print(format_info(d))
    if args.text_header and "text_header" in d:
        print(d["text_header"])
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from . import store, synthetic

    store.prepare_output(args.output, args.overwrite)
    spec = synthetic.SurveySpec(n_inline=args.inlines, n_crossline=args.crosslines, n_samples=args.samples,
                                dt_ms=args.dt, seed=args.seed)
    r = synthetic.write_segy(args.output, spec, fmt=args.format, endian=args.endian, snr_db=args.snr,
                             missing=args.missing, line=args.line, sorting=args.sorting, scale=args.scale)
    noise = f", noise std {r['noise_std']:.4g} (SNR {args.snr} dB)" if args.snr is not None else ", noise-free"
    print(f"wrote {args.output}: {r['traces']} traces x {args.samples} samples, format {args.format} {args.endian}-endian{noise}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from . import demo

    return demo.run(args.dir, workers=args.workers, quiet=args.quiet, print_=print, model=args.model,
                    adapt=(args.adapt_epochs, args.adapt_patches) if args.adapt else None)


def cmd_make_dataset(args: argparse.Namespace) -> int:
    from . import dataset

    try:
        snr = dataset.parse_snr(args.snr)
        band = dataset.parse_snr(args.band)
    except ValueError:
        raise SeisbatchError(args.output, f"--snr {args.snr!r} / --band {args.band!r}: expected a number or LOW:HIGH") from None
    try:
        noise = dataset.NoiseSpec(snr_low=snr[0], snr_high=snr[1], kind=args.noise, band=band,
                                  clean_fraction=args.clean_fraction, band_fraction=args.band_fraction)
    except ValueError as exc:
        raise SeisbatchError(args.output, str(exc)) from None
    update, close = _progress("patches", args.quiet)
    r = dataset.make_dataset(args.output, count=args.count, noise=noise, seed=args.seed, source=args.from_store or None,
                             stride=args.stride, n_test=args.test_count, overwrite=args.overwrite, progress=update,
                             synthetic_fraction=args.synthetic_fraction, test_sources=args.test_from,
                             augment=dataset.AugmentSpec() if args.augment else None)
    close()
    short = f" (asked for {r['requested']}: the store had no more usable patches)" if r["count"] < r["requested"] else ""
    print(f"wrote {r['path']}: {r['count']} patch pairs{short}, the last {r['n_test']} held out for testing")
    return 0


def _print_metrics(m: dict) -> None:
    print(f"held-out patches: {m['patches']}")
    print(f"  MSE  {m['mse_before']:.5g} -> {m['mse_after']:.5g}")
    print(f"  SNR  {m['snr_before_db']:.2f} dB -> {m['snr_after_db']:.2f} dB  (gain {m['snr_gain_db']:+.2f} dB)")
    print(f"  clean patches through the model: SNR {m['clean_snr_db']:.2f} dB")


def cmd_train(args: argparse.Namespace) -> int:
    from . import devices

    devices.start_backend()
    from . import training

    spec = training.TrainSpec(
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate, shuffle=not args.no_shuffle,
        seed=args.seed, depth=args.depth, filters=args.filters, n_test=args.test_count,
        steps_per_epoch=args.steps_per_epoch, mixed_precision=args.mixed_precision, recalibrate_bn=args.recalibrate_bn,
        init=args.init,
    )
    r = training.train(args.data, args.out, spec, resume=args.resume, overwrite=args.overwrite,
                       verbose=0 if args.quiet else 1 if sys.stdout.isatty() else 2)  # a log file: a line per epoch
    paths = training.artifacts(args.out)
    print(f"trained {r['epochs']} epochs in {r['train_seconds'] / 60:.1f} min; model {args.out} (digest {r['digest'][:12]})")
    if "held_out_before_recalibration" in r:
        b = r["held_out_before_recalibration"]
        print(f"before BatchNorm recalibration: SNR after {b['snr_after_db']:.2f} dB, clean {b['clean_snr_db']:.2f} dB")
    _print_metrics(r["held_out"])
    print("wrote " + ", ".join(paths[k] for k in ("history", "metrics", "loss_figure", "training_figure", "test_figure")))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from . import devices

    devices.start_backend()
    from . import training

    r = training.evaluate_file(None if args.model == "shipped" else args.model, args.data, n_test=args.test_count, all_patches=args.all, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"model {r['model']} (digest {r['digest'][:12]})")
        _print_metrics(r)
    return 0


def _pair(text: str) -> tuple[int, int]:
    a, _, b = text.partition(",")
    return int(a), int(b or a)


def cmd_denoise(args: argparse.Namespace) -> int:
    from . import denoise, engine, store

    given = {k: getattr(args, k) for k in ("method", "output", "direction", "halo", "blend", "batch_size", "device",
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
    try:
        spec = denoise.DenoiseSpec(**given)
        if spec.method == "fx":
            spec.fx_spec()
    except ValueError as exc:
        raise SeisbatchError(stores[0], str(exc)) from None
    t0, total = time.perf_counter(), 0
    with engine.dask_client(**_client_kwargs(args)) as client:
        for path in stores:  # a missing or half-converted store stops the job before any work
            args.store = path  # an error names the store it happened in
            store.open_complete(path)
        for k, path in enumerate(stores, 1):
            args.store = path
            label = "denoise" if len(stores) == 1 else f"denoise {k}/{len(stores)}"
            update, close = _progress(label, args.quiet)
            r = denoise.denoise(path, args.model, spec, client=client, workers=len(client.scheduler_info()["workers"]),
                                overwrite=args.overwrite, progress=update)
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
    resumed = f", {r['resumed']} already done by an earlier run" if r["resumed"] else ""
    print(f"denoised {path} -> array {r['output']!r}: {_count(r['tasks'], 'block')} ({r['computed']} computed{resumed}), "
          f"{_count(r['tiles'], 'tile')}, {r['samples']:,} samples")
    how = (f"f-x deconvolution, halo {r['halo']}" if r.get("method") == "fx" else
           f"model digest {r['model_digest'][:12]}, halo {r['halo']}, {r['precision']}")
    print(f"{r['seconds']:.1f} s, {r['samples_per_s']:,.0f} samples/s on {_count(r['workers'], 'worker')}; {how}")


def cmd_config(args: argparse.Namespace) -> int:
    import yaml

    from . import config, store

    if args.json:
        print(json.dumps(config.effective(), indent=2))
        return 0
    print(f"# seisbatch settings in effect (defaults: {config.defaults_file()})")
    print("# override in YAML files under: " + ", ".join(config.search_paths()))
    print("# or with variables like DASK_SEISBATCH__DENOISE__BATCH_SIZE=16; command-line options win over both")
    print(f"# Zarr codec pipeline in use: {store.use_codec_pipeline()}")
    print(yaml.safe_dump({"seisbatch": config.effective()}, sort_keys=False), end="")
    return 0


def cmd_qc(args: argparse.Namespace) -> int:
    from . import qc

    r = qc.qc(args.store, args.output, args.section, args.clean, args.png, args.precision_check or None, args.compare)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"QC of {args.store} array {r['output']!r}, {len(r['sections'])} {r['direction']} section(s)")
    if "snr_gain_db" in r:
        print(f"  SNR against the clean reference: {r['snr_before_db']:.2f} dB -> {r['snr_after_db']:.2f} dB "
              f"(gain {r['snr_gain_db']:+.2f} dB)")
    print(f"  removed energy {100 * r['removed_energy']:.1f}% of the input; leakage (corr. removed vs denoised) {r['leakage']:+.3f}")
    if "compare" in r:
        o = r["compare"]
        snr = (f"SNR {o['snr_before_db']:.2f} dB -> {o['snr_after_db']:.2f} dB (gain {o['snr_gain_db']:+.2f} dB); "
               if "snr_gain_db" in o else "")
        print(f"  compared with {o['output']!r}: {snr}removed energy {100 * o['removed_energy']:.1f}%, "
              f"leakage {o['leakage']:+.3f}")
    if "precision_check" in r:
        pc = r["precision_check"]
        win = " x ".join(f"{a}:{b}" for a, b in pc["window"])
        print(f"  {pc['precision']} inference against float32 on {r['figure_section']} (window {win}): relative RMS error "
              f"{pc['rel_rms_error']:.2e}, max |error| {pc['max_abs_error']:.3g}, SNR {pc['snr_vs_float32_db']:.1f} dB")
    gain = f"; removed noise shown x{r['figure_noise_gain']:g}" if r["figure_noise_gain"] != 1 else ""
    print(f"  figure: {r['png']} ({r['figure_section']}{gain})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="seisbatch",
        description="Distributed deep-learning denoising of large seismic surveys: SEG-Y/HDF5 -> Zarr -> "
                    "denoise on Dask -> SEG-Y.",
    )
    p.add_argument("--version", action="version", version=f"seisbatch {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    c = sub.add_parser("convert", help="SEG-Y, HDF5 or MDIO v1 -> chunked Zarr store (keeps every header)",
                       description="Convert a SEG-Y file, an HDF5 dataset or an MDIO v1 store into a seisbatch Zarr "
                                   "store, in parallel. Every header is kept so `seisbatch export` writes the file back "
                                   "exactly (from MDIO: the headers MDIO kept; the summary says what was made up).")
    c.add_argument("input", nargs="+",
                   help="SEG-Y file, HDF5 file, or MDIO v1 store (post-stack 3D or 2D, a local directory); several "
                        "(the lines of a 2D survey, say) are converted one after the other on one cluster; one that fails is "
                        "reported and the others go on (exit code 2)")
    c.add_argument("output", help="new Zarr store: a directory (survey.zarr) or an fsspec URL (s3://bucket/survey.zarr, "
                   "with the s3 extra; credentials and endpoint from the usual AWS variables). With several inputs, "
                   "a directory (made if missing) that gets one store per input, NAME.zarr for NAME.sgy; run the "
                   "same command again to finish: stores already converted from the same files are skipped")
    c.add_argument("--overwrite", action="store_true",
                   help="replace OUTPUT if it is an existing Zarr store (a folder that is not a store, or a file, is "
                        "never removed)")
    c.add_argument("--chunks", help="chunk shape, comma-separated, sample axis last (default 32,32,512 for 3D, 1024,512 "
                   "otherwise: settings seisbatch.convert.chunks-3d and chunks-2d)")
    c.add_argument("--checksum", action="store_true", default=None,
                   help="also record the input file's sha256 in the store (SEG-Y and HDF5; reads the whole file once more, on one worker; "
                   "default: setting seisbatch.convert.checksum, off). Path, size and modification time are always recorded")
    c.add_argument("--compression", choices=["lz4", "zstd", "none"],
                   help="lossless codec of the amplitudes (default: setting seisbatch.convert.compression, lz4). "
                   "Both bit-shuffle the samples first. Measured on real surveys: lz4 stores them in 34-76%% of their size; zstd in "
                   "31-74%%, compressing 2-12x slower than lz4; none at full size, converting 1.1-1.3x faster than lz4 on "
                   "2 cores. Headers are always compressed")
    c.add_argument("--quiet", action="store_true", help="no progress bar")
    s = c.add_argument_group("SEG-Y")
    s.add_argument("--inline-byte", type=int, default=189, help="trace header byte of the inline number (default 189)")
    s.add_argument("--crossline-byte", type=int, default=193, help="trace header byte of the crossline number (default 193)")
    s.add_argument("--geometry", default="auto", choices=["auto", "3d", "2d", "traces"], help=GEOMETRY_HELP)
    s.add_argument("--endian", choices=["big", "little"], help="byte order (default: detected from the binary header)")
    s.add_argument("--sample-units", default="ms", choices=["ms", "m", "ft"], help="units of the sample axis (default ms)")
    h = c.add_argument_group("HDF5")
    h.add_argument("--dataset", help="dataset to convert (default: the only 2D/3D dataset in the file)")
    h.add_argument("--axes", help="the dataset's axis order, e.g. inline,crossline,sample (3D default) or trace,sample (2D default)")
    h.add_argument("--sample-interval", type=float, default=4.0, help="sample interval of HDF5 data in sample units (default 4.0)")
    _client_args(c)
    c.set_defaults(func=cmd_convert)

    e = sub.add_parser("export", help="store -> SEG-Y with the original headers",
                       description="Write an array of a store as SEG-Y with the original file's headers, trace order "
                                   "and sample format. An unmodified store gives back the input byte for byte.")
    e.add_argument("store", nargs="+", help="seisbatch Zarr store; several are exported one after the other on one "
                   "cluster, every one checked before any is written")
    e.add_argument("output", help="SEG-Y file to write; with several stores, a directory (made if missing) that gets "
                   "NAME_ARRAY.sgy for each NAME.zarr (line1_denoised.sgy), so the originals are never replaced")
    e.add_argument("--array", default="amplitude", help="array to export (default amplitude; e.g. denoised)")
    e.add_argument("--overwrite", action="store_true",
                   help="replace OUTPUT if it exists, once the new file is complete (a failed run leaves it whole)")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    _client_args(e)
    e.set_defaults(func=cmd_export)

    i = sub.add_parser("info", help="describe a store, a SEG-Y file or an HDF5 file",
                       description="Geometry, dims, sampling, amplitude statistics, arrays and their completeness.")
    i.add_argument("path", help="store, SEG-Y or HDF5 file")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.add_argument("--text-header", action="store_true", help="also print the SEG-Y textual header")
    i.add_argument("--inline-byte", type=int, default=189, help="inline byte for SEG-Y files (default 189)")
    i.add_argument("--crossline-byte", type=int, default=193, help="crossline byte for SEG-Y files (default 193)")
    i.add_argument("--quiet", action="store_true",
                   help="no progress bar (a SEG-Y file's header scan shows one on stderr once it has taken a second)")
    i.set_defaults(func=cmd_info)

    y = sub.add_parser("synth", help="write a synthetic survey as SEG-Y",
                       description="Layered, dipping, folded and faulted reflectors convolved with a Ricker wavelet, "
                                   "optionally with Gaussian noise at a given SNR.")
    y.add_argument("output", help="SEG-Y file to write")
    y.add_argument("--inlines", type=int, default=64, help="number of inlines (default 64)")
    y.add_argument("--crosslines", type=int, default=48, help="number of crosslines (default 48)")
    y.add_argument("--samples", type=int, default=256, help="samples per trace (default 256)")
    y.add_argument("--dt", type=float, default=4.0, help="sample interval in ms (default 4)")
    y.add_argument("--format", type=int, default=5, choices=[1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16],
                   help="SEG-Y sample format code (default 5, IEEE float; 1 is IBM float)")
    y.add_argument("--endian", default="big", choices=["big", "little"], help="byte order (default big)")
    y.add_argument("--snr", type=float, default=None, help="add Gaussian noise at this SNR in dB (default: none)")
    y.add_argument("--scale", type=float, default=1.0, help="amplitude multiplier (integer formats need e.g. 1000)")
    y.add_argument("--missing", type=float, default=0.0, help="fraction of traces to leave out at random (irregular survey)")
    y.add_argument("--sorting", default="inline", choices=["inline", "crossline"], help="trace order in the file")
    y.add_argument("--line", action="store_true", help="write a single 2D line instead of a cube")
    y.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    y.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    y.set_defaults(func=cmd_synth)

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
                   help="dncnn: the model (default); fx: f-x deconvolution (Canales 1984), the classical baseline, "
                        "through the same tiles, tasks and resume, with no model (--fx-* options)")
    n.add_argument("--model", default=None, help="model file (.keras or .weights.h5; default: the pretrained model shipped with seisbatch)")
    n.add_argument("--output", default=None,
                   help="name of the output array in the store (default: denoised for dncnn, fxdecon for fx; setting "
                        "seisbatch.denoise.output): letters, digits, '_' and '-'; a new array or one an earlier denoise "
                        "wrote, never the store's own arrays")
    n.add_argument("--fx-filter", type=int, default=None,
                   help="f-x: prediction filter length in traces, fitted forward and backward (default 4)")
    n.add_argument("--fx-window", default=None, metavar="TRACES,SAMPLES",
                   help="f-x: window size in traces and samples, overlapping by half and tapered (default 40,128); "
                        "longer windows smooth more, shorter ones follow curved events")
    n.add_argument("--fx-damping", type=float, default=None,
                   help="f-x: least-squares damping relative to each frequency's power (default 0.01)")
    n.add_argument("--direction", default=None, choices=["inline", "crossline"],
                   help="sections of a 3D store to denoise (default inline); 2D and pre-stack stores use trace x sample")
    n.add_argument("--tile", default=None, help="largest tile core TRACES,SAMPLES (default 512,1024); sections are "
                   "cut into balanced tiles no larger than this, each read with the halo around it")
    n.add_argument("--halo", type=int, default=None,
                   help="samples of context around each tile (default: the model's receptive radius, 17, which makes "
                        "crop blending exactly equal to whole-section inference); f-x always reads one f-x window "
                        "around each block, which makes it equal to whole-section f-x")
    n.add_argument("--blend", default=None, choices=["crop", "taper"],
                   help="crop: keep each tile's core (exact with the default halo); taper: overlap-add with raised-cosine "
                        "ramps (seam-free with a halo smaller than the receptive radius). Default crop")
    n.add_argument("--batch-size", type=int, default=None, help="tiles per model call (default 2; raise it on GPUs)")
    n.add_argument("--device", default=None, choices=["auto", "cpu", "gpu"], help="where workers run the model (default auto)")
    n.add_argument("--precision", default=None, choices=["float32", "bfloat16", "float16"],
                   help="compute precision of the model (default float32). Half precision roughly doubles GPU "
                        "throughput; weights stay float32 and `seisbatch qc` reports the error against float32")
    n.add_argument("--gpu", action="store_true", help="start one local worker per GPU (dask-cuda's LocalCUDACluster, from "
                   "the gpu extra) instead of CPU workers; model tasks then run one per GPU")
    n.add_argument("--overwrite", action="store_true", help="replace an existing output array made by another model or parameters")
    n.add_argument("--quiet", action="store_true", help="no progress bar")
    _client_args(n)
    n.set_defaults(func=cmd_denoise)

    q = sub.add_parser("qc", help="figures and metrics of a denoised array",
                       description="Per-section metrics of a denoised array and a PNG of one section (input, denoised, "
                                   "removed noise). With --clean (a store of the noise-free survey, e.g. synthetic truth) the "
                                   "metric is SNR before/after; otherwise the removed-noise energy and the leakage, the "
                                   "correlation between removed noise and denoised signal. The figure's axes are in the survey's line "
                                   "numbers and time (or depth); the removed noise is drawn on the input's grey scale, "
                                   "amplified (x2, x5, x10, ..., said in its title) when it would be too faint to see; below "
                                   "the sections, the metrics along the survey (a 2D line: trace by trace, over a few "
                                   "neighbouring traces).")
    q.add_argument("store", help="seisbatch store with a denoised array")
    q.add_argument("--output", default="denoised", help="array to check (default denoised)")
    q.add_argument("--compare", default=None, metavar="ARRAY",
                   help="a second output of the store (e.g. fxdecon from `denoise --method fx`) measured the same way "
                        "and shown beside the first, with what each removed")
    q.add_argument("--section", default=None, help="section for the figure: inline:NUMBER or crossline:NUMBER "
                   "(line numbers as in the headers; default the middle inline; 2D stores show the whole line)")
    q.add_argument("--clean", default=None, metavar="STORE", help="store of the noise-free survey, for SNR")
    q.add_argument("--png", default=None, help="figure path (default: beside the store, STORE.qc-OUTPUT.png); a folder gets that name inside it, a name without a suffix gets .png")
    q.add_argument("--json", action="store_true", help="machine-readable metrics, per section")
    q.add_argument("--precision-check", action="store_true",
                   help="measure the output's error against float32 inference with the same model on one tile of the "
                        "figure's section (done anyway for outputs computed in bfloat16 or float16)")
    q.set_defaults(func=cmd_qc)

    g = sub.add_parser("config", help="show the settings in effect and where they come from",
                       description="Print every seisbatch setting in effect. Settings live in Dask's config system under "
                                   "the key `seisbatch`: the shipped defaults, then YAML files in the Dask config "
                                   "directories (~/.config/dask, $DASK_CONFIG), then environment variables such as "
                                   "DASK_SEISBATCH__RETRIES=5 or DASK_SEISBATCH__DENOISE__TILE='[256, 512]'. "
                                   "Command-line options override all of them.")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.set_defaults(func=cmd_config)

    m = sub.add_parser("make-dataset", help="write noisy/clean training patches (the paper's HDF5 layout)",
                       description="Write OUT.h5 with /X (noisy) and /Y (clean) patches, float32 (N, 64, 64, 1), "
                                   "the last ones held out for testing, from synthetic surveys (default) or from a store. "
                                   "Amplitudes are scaled by survey statistics exactly as `seisbatch denoise` scales them.")
    m.add_argument("output", help="HDF5 file to write, e.g. noise_dataset.h5")
    m.add_argument("--from", dest="from_store", metavar="STORE", action="append", default=[],
                   help="cut clean patches from this seisbatch store instead of synthetic surveys (dead and flat patches "
                        "are skipped); repeat for several stores, which share the patches equally")
    m.add_argument("--synthetic-fraction", type=float, default=None, metavar="F",
                   help="with --from: this fraction of the patches comes from synthetic surveys, the rest from the stores "
                        "(default 0)")
    m.add_argument("--augment", action="store_true",
                   help="with --from: change each region of a store at random before cutting it (resampled to look "
                        "sampled at 1-8 ms, spectral tilt and high cut, dip, polarity and trace-order flips, gain), "
                        "visiting the regions again until --count patches are made")
    m.add_argument("--test-from", metavar="STORE", action="append", default=[],
                   help="cut the held-out patches from this store only, and no training patch from it (a split by "
                        "survey); repeat for several")
    m.add_argument("--count", type=int, default=12800, help="number of patch pairs (default 12800, as the paper's file)")
    m.add_argument("--test-count", type=int, default=1000,
                   help="patches at the end held out for testing (default 1000; a fifth of the patches for small sets)")
    m.add_argument("--snr", default="5", help="noise level in dB against the clean survey RMS: one value (default 5) "
                   "or LOW:HIGH drawn uniformly per patch, for a model that works across levels")
    m.add_argument("--noise", default="white", choices=["white", "band", "mixed"],
                   help="white Gaussian (default), band-limited along the sample axis, or mixed (band-limited for "
                        "--band-fraction of the patches, white for the rest)")
    m.add_argument("--band-fraction", type=float, default=0.5, help="with --noise mixed: fraction of patches with "
                   "band-limited noise (default 0.5)")
    m.add_argument("--band", default="0.05:0.5", help="band of --noise band, as fractions of Nyquist LOW:HIGH (default 0.05:0.5)")
    m.add_argument("--clean-fraction", type=float, default=0.0, help="fraction of patches left noise-free (default 0)")
    m.add_argument("--stride", type=int, default=32, help="patch stride when cutting from a store (default 32)")
    m.add_argument("--seed", type=int, default=0, help="random seed: the same seed gives the same file (default 0)")
    m.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    m.add_argument("--quiet", action="store_true", help="no progress bar")
    m.set_defaults(func=cmd_make_dataset)

    t = sub.add_parser("train", help="train the DnCNN on a patch dataset (the paper's recipe)",
                       description="Train the DnCNN of Yu & Ma (2021) on /X (noisy) and /Y (clean) patches: RMSprop, MSE, "
                                   "batch 32, 50 epochs, shuffled, the last patches held out. A checkpoint is written every "
                                   "epoch (--resume continues from it); the history (CSV) and its loss curve (PNG), held-out "
                                   "metrics (JSON) and the paper's two figures (PNG) are written beside the model. The Keras backend is chosen "
                                   "with the KERAS_BACKEND environment variable (tensorflow, jax or torch).")
    t.add_argument("data", help="HDF5 patch file from `seisbatch make-dataset` (or the paper's noise_dataset.h5)")
    t.add_argument("--out", required=True, help="model file to write (.keras)")
    t.add_argument("--epochs", type=int, default=50, help="total epochs (default 50); with --resume, training continues up to this")
    t.add_argument("--batch-size", type=int, default=32, help="patches per step (default 32)")
    t.add_argument("--learning-rate", type=float, default=1e-3, help="RMSprop learning rate (default 0.001, Keras' default)")
    t.add_argument("--no-shuffle", action="store_true", help="keep patch order (the paper shuffles)")
    t.add_argument("--seed", type=int, default=0, help="seed for weights and shuffling (default 0)")
    t.add_argument("--depth", type=int, default=17, help="convolution layers (default 17)")
    t.add_argument("--filters", type=int, default=64, help="filters per hidden layer (default 64)")
    t.add_argument("--test-count", type=int, default=None, help="patches held out at the end (default: the file's own, else 1000)")
    t.add_argument("--steps-per-epoch", type=int, default=None, help="limit the steps of an epoch (default: all training patches)")
    t.add_argument("--mixed-precision", action="store_true", help="float16 compute with float32 weights, for GPUs; on an H100 the paper's recipe "
                        "ran only 8%% faster and learned far less (+2.3 dB against +10.8: model card)")
    t.add_argument("--recalibrate-bn", type=int, default=0, metavar="BATCHES",
                   help="after training, re-estimate BatchNorm statistics over this many batches instead of keeping "
                        "the last batch's (momentum 0.0, the paper's choice); metrics are reported before and after")
    t.add_argument("--init", default=None, metavar="MODEL", help="start from this model's weights with a fresh optimizer "
                   "(fine-tuning, e.g. at a lower --learning-rate) instead of random weights")
    t.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    t.add_argument("--overwrite", action="store_true",
                   help="start again, discarding an existing checkpoint; an existing model (and its metrics and "
                        "figures) is replaced only when the new one is saved, so a failed run leaves it whole")
    t.add_argument("--quiet", action="store_true", help="no progress display")
    t.set_defaults(func=cmd_train)

    cli_adapt.add_parser(sub, _client_args)

    v = sub.add_parser("evaluate", help="held-out metrics of a model on a patch dataset",
                       description="MSE and SNR before/after denoising on the held-out patches, and the SNR of the "
                                   "model's output on the clean patches (how much it harms noise-free data).")
    v.add_argument("model", help="model file (.keras or .weights.h5), or 'shipped' for the pretrained model in the package")
    v.add_argument("data", help="HDF5 patch file")
    v.add_argument("--test-count", type=int, default=None, help="held-out patches at the end (default: the file's own)")
    v.add_argument("--all", action="store_true", help="evaluate on every patch of the file (an evaluation-only dataset)")
    v.add_argument("--batch-size", type=int, default=32, help="patches per inference batch (default 32)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.set_defaults(func=cmd_evaluate)

    d = sub.add_parser("demo", help="end-to-end run on built-in synthetic data",
                       description="Generate a noisy synthetic survey (SNR 5 dB) and its noise-free truth as SEG-Y, "
                                   "convert both, denoise the survey on a local Dask cluster with the shipped model, write "
                                   "a QC figure, export the denoised SEG-Y, and print the SNR before and after.")
    d.add_argument("--dir", default="demo-output", help="working directory for the demo files (default demo-output)")
    d.add_argument("--workers", type=int, default=None, help="local Dask workers (default: one per core)")
    d.add_argument("--model", default=None, help="model to denoise with (default: the shipped pretrained model)")
    d.add_argument("--adapt", action="store_true",
                   help="also adapt the model to the noisy survey itself (`seisbatch adapt`, no clean data), denoise "
                        "with the adapted model too, and print both SNRs")
    d.add_argument("--adapt-epochs", type=int, default=1, help="with --adapt: epochs (default 1, about a minute)")
    d.add_argument("--adapt-patches", type=int, default=480, help="with --adapt: patches per epoch (default 480)")
    d.add_argument("--quiet", action="store_true", help="no progress bars")
    d.set_defaults(func=cmd_demo)
    for command in (p, *sub.choices.values()):  # `qc --out x.png` must not quietly mean `--output x.png`
        command.allow_abbrev = False
    return p


#: botocore's errors for missing credentials (s3fs raises them unwrapped), named so that botocore,
#: an optional dependency, need not be imported
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SeisbatchError as exc:
        print(f"seisbatch: error: {exc}", file=sys.stderr)
        return 2
    except (OSError, RuntimeError) as exc:  # disk full, permission denied, read-only or vanished storage, often from a worker
        os_exc = as_os_error(exc)  # zarrs reports these as RuntimeError
        if os_exc is None:
            raise
        exc = os_exc
        where = exc.filename or getattr(args, "output", None) or getattr(args, "store", None) or ""
        resumable = args.command in ("convert", "denoise")
        print(f"seisbatch: error: {where}: {exc.strerror or exc}"
              + (". Nothing was marked complete; fix the cause and run the same command again to finish (finished "
                 "blocks are kept)" if resumable else ""), file=sys.stderr)
        return 2
    except Exception as exc:
        if type(exc).__name__ not in _NO_CREDENTIALS:
            raise
        where = next((a for a in vars(args).values() if isinstance(a, str) and "://" in a), "object storage")
        print(f"seisbatch: error: {where}: no credentials for object storage ({exc}); set AWS_ACCESS_KEY_ID and "
              "AWS_SECRET_ACCESS_KEY (or a profile in ~/.aws), and AWS_ENDPOINT_URL for an S3-compatible server",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("seisbatch: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
