"""``seisbatch synth`` and ``seisbatch demo``: synthetic surveys, and the whole job on one."""

from __future__ import annotations

import argparse


def add_parser(sub) -> None:
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
    y.add_argument("--gathers", choices=["cmp2d", "cmp3d"], default=None,
                   help="write NMO-corrected CMP gathers with known amplitude versus offset instead of a stacked survey "
                        "(flat events, amplitude A + B sin²θ; CMP number at byte 21, offset at 37): cmp2d, one line "
                        "of --crosslines gathers; cmp3d, --inlines x --crosslines gathers")
    y.add_argument("--offsets", type=int, default=32, help="with --gathers: traces per gather (default 32, 100 m apart)")
    y.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    y.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    y.set_defaults(func=cmd_synth)

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


def cmd_synth(args: argparse.Namespace) -> int:
    from .. import store, synthetic

    store.prepare_output(args.output, args.overwrite)
    if args.gathers:
        return _synth_gathers(args)
    spec = synthetic.SurveySpec(n_inline=args.inlines, n_crossline=args.crosslines, n_samples=args.samples,
                                dt_ms=args.dt, seed=args.seed)
    r = synthetic.write_segy(args.output, spec, fmt=args.format, endian=args.endian, snr_db=args.snr,
                             missing=args.missing, line=args.line, sorting=args.sorting, scale=args.scale)
    noise = f", noise std {r['noise_std']:.4g} (SNR {args.snr} dB)" if args.snr is not None else ", noise-free"
    print(f"wrote {args.output}: {r['traces']} traces x {args.samples} samples, format {args.format} {args.endian}-endian{noise}")
    return 0


def _synth_gathers(args: argparse.Namespace) -> int:
    from .. import gathers

    spec = gathers.GatherSpec(n_cdp=args.crosslines, n_offsets=args.offsets, n_samples=args.samples,
                              n_inline=args.inlines if args.gathers == "cmp3d" else 1, dt_ms=args.dt, seed=args.seed)
    r = gathers.write_segy(args.output, spec, snr_db=args.snr, fmt=args.format, endian=args.endian, missing=args.missing)
    noise = f", noise std {r['noise_std']:.4g} (SNR {args.snr} dB)" if args.snr is not None else ", noise-free"
    print(f"wrote {args.output}: {r['gathers']} CMP gathers x {args.offsets} offsets ({r['traces']} traces) x {args.samples} samples, "
          f"format {args.format} {args.endian}-endian{noise}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from .. import demo
    from .common import workers

    return demo.run(args.dir, workers=workers(args.workers), quiet=args.quiet, print_=print, model=args.model,
                    adapt=(args.adapt_epochs, args.adapt_patches) if args.adapt else None)
