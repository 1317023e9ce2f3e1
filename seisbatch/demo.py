"""The README's main job on built-in data: synthesise a noisy survey, convert it to a store on a
local Dask cluster, export it back, prove the round trip is byte-exact, and describe the store.
(Denoising joins this pipeline when `seisbatch denoise` lands.)"""

from __future__ import annotations

import filecmp
import os
import time
from collections.abc import Callable

from . import convert, engine, export, info, synthetic


def run(workdir: str, workers: int | None = None, quiet: bool = False, print_: Callable[..., None] = print) -> int:
    """Run the demo in ``workdir``; returns a process exit code."""
    from .cli import _progress, format_info

    os.makedirs(workdir, exist_ok=True)
    sgy = os.path.join(workdir, "survey_noisy.sgy")
    zarr_path = os.path.join(workdir, "survey.zarr")
    back = os.path.join(workdir, "survey_roundtrip.sgy")
    spec = synthetic.SurveySpec(n_inline=48, n_crossline=64, n_samples=400, seed=2021)
    t0 = time.perf_counter()
    r = synthetic.write_segy(sgy, spec, fmt=1, snr_db=5.0)
    print_(f"1/4 synthetic survey: {sgy} ({r['traces']} traces x {spec.n_samples} samples, IBM float, SNR 5 dB)")
    with engine.dask_client(workers=workers or engine.default_workers()) as client:
        upd, close = _progress("convert", quiet)
        s = convert.convert_segy(sgy, zarr_path, client=client, overwrite=True, progress=upd)
        close()
        print_(f"2/4 converted to {zarr_path}: {s['geometry']} {' x '.join(map(str, s['shape']))}")
        upd, close = _progress("export", quiet)
        export.export_segy(zarr_path, back, client=client, overwrite=True, progress=upd)
        close()
    same = filecmp.cmp(sgy, back, shallow=False)
    print_(f"3/4 exported {back}: {'byte-identical to the input' if same else 'DIFFERS from the input'}")
    print_("4/4 seisbatch info " + zarr_path)
    print_(format_info(info.describe(zarr_path)))
    print_(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0 if same else 1
