"""Denoise a field survey end to end with seisbatch's public API:

    convert (SEG-Y -> store, every header kept) -> [adapt (fine-tune the model on the noisy survey
    itself, no clean data)] -> denoise (Dask, the shipped, given or adapted model)
    -> qc (figure + removed-noise energy and leakage per section) -> export (SEG-Y, original headers)

    python workflows/field_pipeline.py survey.sgy                       # everything in survey-seisbatch/
    python workflows/field_pipeline.py survey.sgy --adapt               # adapt first (a few minutes on 2 cores)
    python workflows/field_pipeline.py survey.sgy --workers 4 --model my.keras --inline-byte 9 --crossline-byte 21
    python workflows/field_pipeline.py survey.sgy --scheduler tcp://scheduler:8786

Rerunning the same command resumes: a finished conversion is reused, and denoising continues with
the blocks that are missing.
"""

from __future__ import annotations

import argparse
import os
import sys

from seisbatch import convert, denoise, engine, export, patches, qc, store
from seisbatch.specs import AdaptSpec
from seisbatch.errors import SeisbatchError


def run(segy: str, workdir: str | None = None, model: str | None = None, workers: int | None = None,
        scheduler: str | None = None, inline_byte: int = 189, crossline_byte: int = 193, direction: str = "inline",
        adapt_epochs: int = 0, adapt_patches: int = AdaptSpec.patches) -> dict:
    """The pipeline; ``adapt_epochs`` > 0 adapts the model to the survey first (``seisbatch adapt``)."""
    workdir = workdir or os.path.splitext(os.path.abspath(segy))[0] + "-seisbatch"
    os.makedirs(workdir, exist_ok=True)
    zarr_path = os.path.join(workdir, "survey.zarr")
    out = os.path.join(workdir, "denoised.sgy")
    with engine.dask_client(scheduler=scheduler, workers=workers or engine.default_workers()) as client:
        try:
            store.open_complete(zarr_path)
            print(f"convert: reusing the complete store {zarr_path}")
        except SeisbatchError:
            s = convert.convert_segy(segy, zarr_path, client=client, inline_byte=inline_byte,
                                     crossline_byte=crossline_byte, overwrite=True)
            print(f"convert: {segy} -> {zarr_path} ({s['geometry']} {' x '.join(map(str, s['shape']))})")
        if adapt_epochs:
            model = _adapt(zarr_path, workdir, model, direction, adapt_epochs, adapt_patches, client)
        d = denoise.denoise(zarr_path, model, denoise.DenoiseSpec(direction=direction), client=client, workers=workers,
                            overwrite=bool(adapt_epochs))
        if d["already_complete"]:
            print("denoise: already complete")
        else:
            print(f"denoise: {d['samples']:,} samples, {d['computed']} blocks computed ({d['resumed']} resumed), "
                  f"{d['samples_per_s']:,.0f} samples/s")
        q = qc.qc(zarr_path, png=os.path.join(workdir, "qc.png"))
        print(f"qc: removed {100 * q['removed_energy']:.1f}% of the energy, leakage {q['leakage']:+.3f}, figure {q['png']}")
        export.export_segy(zarr_path, out, array="denoised", client=client, overwrite=True)
        print(f"export: {out}")
    return {"store": zarr_path, "segy": out, "qc": q, "model": model}


def _adapt(zarr_path: str, workdir: str, model: str | None, direction: str, epochs: int, count: int, client) -> str:
    """The model adapted to the survey (kept in the working directory; a rerun resumes it)."""
    from seisbatch import adapt, devices

    out = os.path.join(workdir, "adapted.keras")
    spec = adapt.AdaptSpec(epochs=epochs, patches=count, direction=direction)
    data, scale = patches.sample(zarr_path, spec.patches, spec.seed, direction, client)
    devices.start_backend()
    resume = os.path.exists(adapt.artifacts(out)["checkpoint"])
    r = adapt.adapt(data, out, model, spec, {"store": zarr_path, "scale": scale}, resume=resume, overwrite=not resume,
                    verbose=0)
    print(f"adapt: {epochs} epochs of {count} patches in {r['seconds']:.0f} s -> {out}")
    return out


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("segy", help="the field survey (SEG-Y)")
    p.add_argument("--dir", default=None, help="working directory (default: SURVEY-seisbatch beside the file)")
    p.add_argument("--model", default=None, help="model (default: the shipped pretrained model)")
    p.add_argument("--workers", type=int, default=None, help="local Dask workers (default: one per core)")
    p.add_argument("--scheduler", default=None, help="address or scheduler file of an existing Dask cluster")
    p.add_argument("--inline-byte", type=int, default=189, help="inline header byte (default 189)")
    p.add_argument("--crossline-byte", type=int, default=193, help="crossline header byte (default 193)")
    p.add_argument("--direction", default="inline", choices=["inline", "crossline"], help="section direction (default inline)")
    p.add_argument("--adapt", action="store_true", help="adapt the model to the survey before denoising (seisbatch adapt)")
    d = AdaptSpec()
    p.add_argument("--adapt-epochs", type=int, default=d.epochs, help=f"with --adapt: epochs (default {d.epochs})")
    p.add_argument("--adapt-patches", type=int, default=d.patches,
                   help=f"with --adapt: patches per epoch (default {d.patches})")
    a = p.parse_args()
    try:
        run(a.segy, a.dir, a.model, a.workers, a.scheduler, a.inline_byte, a.crossline_byte, a.direction,
            a.adapt_epochs if a.adapt else 0, a.adapt_patches)
    except SeisbatchError as exc:
        print(f"seisbatch: error: {exc}", file=sys.stderr)
        sys.exit(2)
