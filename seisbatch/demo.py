"""The README's main job on built-in data: synthesise a noisy survey (and its noise-free truth) as
SEG-Y, convert both to stores on a local Dask cluster, denoise with the shipped model, write the QC
figure, export the denoised SEG-Y, and report SNR before and after."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from . import convert, denoise, engine, export, qc, synthetic

SPEC = synthetic.SurveySpec(n_inline=48, n_crossline=64, n_samples=400, seed=2021)


def run(workdir: str, workers: int | None = None, quiet: bool = False, print_: Callable[..., None] = print,
        model: str | None = None, adapt: tuple[int, int] | None = None) -> int:
    """Run the demo in ``workdir``; returns a process exit code. ``adapt``: (epochs, patches) of an
    adaptation of the model to the noisy survey, whose result is denoised and measured too."""
    from .progress import bar as progress_bar

    os.makedirs(workdir, exist_ok=True)
    j = lambda name: os.path.join(workdir, name)  # noqa: E731
    t0 = time.perf_counter()
    r = synthetic.write_segy(j("survey_noisy.sgy"), SPEC, fmt=1, snr_db=5.0)
    synthetic.write_segy(j("survey_clean.sgy"), SPEC, fmt=1)
    print_(f"1/5 synthetic survey {j('survey_noisy.sgy')}: {r['traces']} traces x {SPEC.n_samples} samples, "
           f"IBM float, SNR 5 dB (noise-free truth beside it)")
    with engine.dask_client(workers=engine.resolve_workers(workers)) as client:
        for name in ("survey", "clean"):
            upd, close = progress_bar(f"convert {name}", quiet)
            src = j("survey_noisy.sgy" if name == "survey" else "survey_clean.sgy")
            convert.convert_segy(src, j(f"{name}.zarr"), client=client, overwrite=True, progress=upd)
            close()
        print_(f"2/5 converted to {j('survey.zarr')} (and the truth to {j('clean.zarr')})")
        upd, close = progress_bar("denoise", quiet)
        d = denoise.denoise(j("survey.zarr"), model, client=client, overwrite=True, progress=upd)
        close()
        print_(f"3/5 denoised {d['samples']:,} samples in {d['seconds']:.1f} s ({d['samples_per_s']:,.0f} samples/s, "
               f"{d['workers']} workers, {d['tasks']} blocks)")
        q = qc.qc(j("survey.zarr"), clean=j("clean.zarr"), png=j("qc.png"))
        print_(f"4/5 QC figure {q['png']}")
        if adapt is not None:
            adapted = _adapt(j("survey.zarr"), j("adapted.keras"), model, adapt, client, quiet)
            upd, close = progress_bar("denoise (adapted)", quiet)
            denoise.denoise(j("survey.zarr"), adapted, denoise.DenoiseSpec(output="adapted"), client=client,
                            overwrite=True, progress=upd)
            close()
            qa = qc.qc(j("survey.zarr"), output="adapted", compare="denoised", clean=j("clean.zarr"),
                       png=j("qc-adapted.png"))
            print_(f"   adapted model {adapted}: SNR {qa['snr_before_db']:.2f} dB -> {qa['snr_after_db']:.2f} dB "
                   f"(shipped: {q['snr_after_db']:.2f} dB); figure {qa['png']}")
        upd, close = progress_bar("export", quiet)
        export.export_segy(j("survey.zarr"), j("survey_denoised.sgy"), array="denoised", client=client,
                           overwrite=True, progress=upd)
        close()
    print_(f"5/5 exported {j('survey_denoised.sgy')} with the original headers")
    print_(f"SNR against the noise-free truth: {q['snr_before_db']:.2f} dB -> {q['snr_after_db']:.2f} dB "
           f"(gain {q['snr_gain_db']:+.2f} dB); leakage {q['leakage']:+.3f}")
    print_(f"demo finished in {time.perf_counter() - t0:.1f} s")
    return 0 if q["snr_gain_db"] > 0 else 1


def _adapt(store_path: str, out: str, model: str | None, adapt: tuple[int, int], client, quiet: bool) -> str:
    """``seisbatch adapt`` on the demo survey: patches sampled on the cluster, fine-tuned here."""
    from . import adapt as adapting
    from . import devices, patches

    spec = adapting.AdaptSpec(epochs=adapt[0], patches=adapt[1])
    data, scale = patches.sample(store_path, spec.patches, spec.seed, spec.direction, client)
    devices.start_backend()
    adapting.adapt(data, out, model, spec, {"store": store_path, "scale": scale}, overwrite=True,
                   verbose=0 if quiet else 2)
    return out
