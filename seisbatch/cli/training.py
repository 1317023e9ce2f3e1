"""``seisbatch make-dataset``, ``train`` and ``evaluate``: the paper's patch dataset and its DnCNN."""

from __future__ import annotations

import argparse
import json
import sys

from .. import progress
from ..errors import SeisbatchError
from ..specs import TrainSpec


def add_parser(sub) -> None:
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

    d = TrainSpec()  # train's defaults, in one place
    t = sub.add_parser("train", help="train the DnCNN on a patch dataset (the paper's recipe)",
                       description="Train the DnCNN of Yu & Ma (2021) on /X (noisy) and /Y (clean) patches: RMSprop, MSE, "
                                   "batch 32, 50 epochs, shuffled, the last patches held out. A checkpoint is written every "
                                   "epoch (--resume continues from it); the history (CSV) and its loss curve (PNG), held-out "
                                   "metrics (JSON) and the paper's two figures (PNG) are written beside the model. The Keras backend is chosen "
                                   "with the KERAS_BACKEND environment variable (tensorflow, jax or torch).")
    t.add_argument("data", help="HDF5 patch file from `seisbatch make-dataset` (or the paper's noise_dataset.h5)")
    t.add_argument("--out", required=True, help="model file to write (.keras)")
    t.add_argument("--epochs", type=int, default=d.epochs,
                   help=f"total epochs (default {d.epochs}); with --resume, training continues up to this")
    t.add_argument("--batch-size", type=int, default=d.batch_size, help=f"patches per step (default {d.batch_size})")
    t.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help=f"RMSprop learning rate (default {d.learning_rate:g}, Keras' default)")
    t.add_argument("--no-shuffle", action="store_true", help="keep patch order (the paper shuffles)")
    t.add_argument("--seed", type=int, default=d.seed, help=f"seed for weights and shuffling (default {d.seed})")
    t.add_argument("--depth", type=int, default=d.depth, help=f"convolution layers (default {d.depth})")
    t.add_argument("--filters", type=int, default=d.filters, help=f"filters per hidden layer (default {d.filters})")
    t.add_argument("--test-count", type=int, default=None, help="patches held out at the end (default: the file's own, else 1000)")
    t.add_argument("--steps-per-epoch", type=int, default=None, help="limit the steps of an epoch (default: all training patches)")
    t.add_argument("--prefetch", type=int, default=d.prefetch,
                   help=f"batches a thread reads ahead from the HDF5 file while the model trains (default {d.prefetch}; 0: none)")
    t.add_argument("--steps-per-execution", type=int, default=d.steps_per_execution,
                   help=f"training steps per call into the backend (default {d.steps_per_execution}; more cut a GPU's "
                        "per-step dispatch; the same weights)")
    t.add_argument("--mixed-precision", action="store_true", help="float16 compute with float32 weights, for GPUs; on an H100 the paper's recipe "
                        "ran only 8%% faster and learned far less (+2.3 dB against +10.8: model card)")
    t.add_argument("--recalibrate-bn", type=int, default=d.recalibrate_bn, metavar="BATCHES",
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


def cmd_make_dataset(args: argparse.Namespace) -> int:
    from .. import dataset

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
    update, close = progress.bar("patches", args.quiet)
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
    from .. import devices

    try:  # every value checked before TensorFlow starts
        spec = TrainSpec(
            epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
            shuffle=not args.no_shuffle, seed=args.seed, depth=args.depth, filters=args.filters, n_test=args.test_count,
            steps_per_epoch=args.steps_per_epoch, mixed_precision=args.mixed_precision,
            recalibrate_bn=args.recalibrate_bn, init=args.init, prefetch=args.prefetch,
            steps_per_execution=args.steps_per_execution,
        )
    except ValueError as exc:
        raise SeisbatchError(args.data, str(exc)) from None
    devices.start_backend()
    from .. import training

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
    from .. import devices

    devices.start_backend()
    from .. import training

    r = training.evaluate_file(None if args.model == "shipped" else args.model, args.data, n_test=args.test_count, all_patches=args.all, batch_size=args.batch_size)
    if args.json:
        print(json.dumps(r, indent=2))
    else:
        print(f"model {r['model']} (digest {r['digest'][:12]})")
        _print_metrics(r)
    return 0
