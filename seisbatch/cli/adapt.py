"""``seisbatch adapt``: parse, check, sample patches on Dask, fine-tune, print."""

from __future__ import annotations

import argparse
import os
import sys

from .. import progress
from ..specs import LOSSES, WARMUP_STEPS, AdaptSpec
from ..errors import SeisbatchError
from .common import client_args, client_kwargs


def add_parser(sub) -> None:
    d = AdaptSpec()  # the defaults, in one place
    a = sub.add_parser("adapt", help="fine-tune the denoiser on a noisy survey itself, without clean data",
                       description="Fine-tune the DnCNN on the store's own noisy amplitude with a self-supervised loss, "
                                   "so that it fits the survey's sampling, bandwidth, geology and noise. Patches are "
                                   "sampled by Dask tasks from the whole store, scaled as `seisbatch denoise` scales, "
                                   "from the sections `denoise` cuts (--direction). The result is a model file for "
                                   "`seisbatch denoise --model`; a checkpoint is written every epoch (--resume), and the "
                                   "metrics JSON beside the model records the base model's digest, the store and every "
                                   "setting.")
    a.add_argument("store", help="seisbatch Zarr store to adapt to (its noisy amplitude)")
    a.add_argument("--out", required=True, help="model file to write (.keras)")
    a.add_argument("--model", default=None, help="model to start from (default: the shipped pretrained model)")
    a.add_argument("--loss", default=d.loss, choices=LOSSES,
                   help=f"default {d.loss}. recorrupted: Recorrupted-to-Recorrupted pairs with the noise level from the base "
                        "model; blind-spot: masked samples predicted from their context (Noise2Void); blind-trace: "
                        "masked traces, for noise correlated along a trace")
    a.add_argument("--epochs", type=int, default=d.epochs, help=f"epochs (default {d.epochs})")
    a.add_argument("--patches", type=int, default=d.patches,
                   help="64x64 patches (smaller where the sections are) sampled from the store, each used once per "
                        f"epoch (default {d.patches}: {d.patches // d.batch_size} steps of {d.batch_size})")
    a.add_argument("--batch-size", type=int, default=d.batch_size, help=f"patches per step (default {d.batch_size})")
    a.add_argument("--learning-rate", type=float, default=d.learning_rate,
                   help=f"Adam's peak learning rate (default {d.learning_rate:g})")
    a.add_argument("--schedule", default=d.schedule, choices=["cosine", "constant"],
                   help=f"default {d.schedule}. cosine: the rate rises over the first {WARMUP_STEPS} steps (5%% where "
                        "that is more), then falls to zero along a cosine over all epochs (so --resume cannot add "
                        "epochs); constant: --learning-rate throughout")
    a.add_argument("--alpha", type=float, default=d.alpha, help=f"recorrupted: recorruption strength (default {d.alpha:g})")
    a.add_argument("--sigma", type=float, default=None,
                   help="recorrupted: noise standard deviation in the survey's scaled units (default: that of what "
                        "the base model removes)")
    a.add_argument("--spectrum", default=d.spectrum, choices=["estimated", "white"],
                   help=f"default {d.spectrum}. recorrupted: colour the recorruption along time like the noise the "
                        "base model removes (estimated; needed for band-limited noise) or keep it white")
    a.add_argument("--mask-fraction", type=float, default=d.mask_fraction,
                   help=f"blind-spot: share of samples masked; blind-trace: share of traces masked (default {d.mask_fraction:g})")
    a.add_argument("--direction", default=d.direction, choices=["inline", "crossline"],
                   help=f"sections of a 3D store to learn from, as `denoise --direction` (default {d.direction})")
    a.add_argument("--seed", type=int, default=d.seed, help=f"seed of the patches, masks and noise (default {d.seed})")
    a.add_argument("--resume", action="store_true", help="continue from the checkpoint beside --out")
    a.add_argument("--overwrite", action="store_true", help="start again, replacing an existing model or checkpoint")
    a.add_argument("--quiet", action="store_true", help="no progress display")
    client_args(a)
    a.set_defaults(func=cmd_adapt)


def cmd_adapt(args: argparse.Namespace) -> int:
    from .. import engine, patches, store

    if not args.out.endswith(".keras"):
        raise SeisbatchError(args.out, "the adapted model is saved in Keras format: give a path ending in .keras")
    if args.model is not None and not os.path.isfile(args.model):
        raise SeisbatchError(args.model, "model file not found")
    from .. import adapt

    try:
        spec = AdaptSpec(loss=args.loss, epochs=args.epochs, patches=args.patches, batch_size=args.batch_size,
                               learning_rate=args.learning_rate, schedule=args.schedule, alpha=args.alpha, sigma=args.sigma, spectrum=args.spectrum,
                               mask_fraction=args.mask_fraction, seed=args.seed, direction=args.direction)
    except ValueError as exc:
        raise SeisbatchError(args.store, str(exc)) from None
    paths = adapt.artifacts(args.out)
    if not args.resume and not args.overwrite:
        for p in (paths["model"], paths["checkpoint"]):
            if os.path.exists(p):
                raise SeisbatchError(p, "exists (use --resume to continue or --overwrite to start again)")
    store.open_complete(args.store)  # before any cluster starts
    with engine.dask_client(**client_kwargs(args)) as client:
        update, close = progress.bar("sample patches", args.quiet)
        data, scale = patches.sample(args.store, spec.patches, spec.seed, spec.direction, client, update)
        close()
    from .. import devices

    devices.start_backend()
    info = {"store": os.path.abspath(args.store) if not store.is_url(args.store) else args.store, "scale": scale}
    r = adapt.adapt(data, args.out, args.model, spec, info, resume=args.resume, overwrite=args.overwrite,
                    verbose=0 if args.quiet else 1 if sys.stdout.isatty() else 2)
    sigma = r["params"]["sigma_used"]
    print(f"adapted {r['params']['base_digest'][:12]} to {args.store} with the {spec.loss} loss: {spec.epochs} epochs of "
          f"{spec.patches} patches ({len(data)} sampled) in {r['seconds'] / 60:.1f} min"
          + (f", noise level {sigma:.4g} (scaled units)" if sigma else ""))
    rem = r["removed_level"]
    print(f"it removes {rem['adapted']:.4g} (std, scaled units) from the survey's patches, the base model "
          f"{rem['base']:.4g}" + ("" if rem["ratio"] >= 0.5 else
                                  "; warning: it removes less than half of what the base model removes, as a model "
                                  "that learned the identity would: check it with `seisbatch qc` before using it"))
    print(f"wrote {args.out} (digest {r['digest'][:12]}) and {paths['metrics']}; denoise with "
          f"`seisbatch denoise {args.store} --model {args.out}`")
    return 0
