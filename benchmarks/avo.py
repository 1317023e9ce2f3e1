"""Amplitude versus offset through denoising, on synthetic NMO-corrected CMP gathers of known AVO.

`seisbatch synth --gathers` writes the gathers with white noise at --snr dB; they are converted
twice, as gathers (the detected cmp2d layout) and flattened to a list of traces in file order
(`--geometry traces`, how pre-stack files were stored before gathers were understood), and
denoised by the shipped DnCNN and by f-x deconvolution in every way the store allows: sections
of whole gathers, common-offset sections, and the flattened traces; each with and without the
restoration of lost signal (`--restore`). Printed: SNR against the clean gathers, and the AVO
measure of `seisbatch.gathers.avo` (each event's amplitude picked in every gather and offset,
averaged over gathers, against A + B sin²θ): the correlation with the truth and each event's
fitted gradient error (largest, median). The noisy input's own row is the baseline.

    python benchmarks/avo.py [--cdps 128] [--snr 5] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import zarr

from seisbatch import convert, denoise, engine, gathers


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cdps", type=int, default=128, help="gathers along the line (default 128)")
    ap.add_argument("--snr", type=float, default=5.0, help="SNR of the noise in dB (default 5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--json", help="also write the rows as JSON here")
    args = ap.parse_args()
    spec = gathers.GatherSpec(n_cdp=args.cdps, seed=args.seed)
    clean = gathers.clean_gathers(spec, np.arange(args.cdps))

    def row(name: str, data: np.ndarray, seconds: float | None = None) -> dict:
        snr = 10 * np.log10((clean.astype(np.float64) ** 2).sum() / ((data - clean).astype(np.float64) ** 2).sum())
        return {"contender": name, "snr_db": float(snr), **gathers.avo(data, spec), "seconds": seconds}

    rows = []
    with tempfile.TemporaryDirectory() as tmp, engine.dask_client(workers=args.workers) as client:
        sgy = os.path.join(tmp, "gathers.sgy")
        gathers.write_segy(sgy, spec, snr_db=args.snr)
        for layout in ("auto", "traces"):
            z = os.path.join(tmp, f"{layout}.zarr")
            convert.convert_segy(sgy, z, client=client, geometry_kind=layout)
            amp = zarr.open_group(z, mode="r")["amplitude"]
            if layout == "auto":
                print(f"{z}: {dict(zip(amp.metadata.dimension_names, amp.shape))}")
                rows.append(row("noisy input", amp[:].reshape(clean.shape)))
            domains = ("offset", "gather") if layout == "auto" else (None,)
            for method in ("dncnn", "fx"):
                for domain in domains:
                    for restore in (False, True):
                        name = f"{method} {'flattened traces' if domain is None else domain + ' sections'}" \
                               + (" + restore" if restore else "")
                        out = f"{method}_{domain}_{int(restore)}"
                        t0 = time.perf_counter()
                        denoise.denoise(z, None, denoise.DenoiseSpec(method=method, domain=domain, restore=restore,
                                                                     output=out), client=client)
                        data = zarr.open_group(z, mode="r")[out][:].reshape(clean.shape)
                        rows.append(row(name, data, time.perf_counter() - t0))
    print(f"\n{args.cdps} CMP gathers x {spec.n_offsets} offsets x {spec.n_samples} samples, white noise at "
          f"{args.snr:g} dB, {rows[0]['events']} events (|B| >= 0.4 |A|, sin²θ up to {gathers.MAX_SIN2})\n")
    print("| contender | SNR dB | AVO correlation | gradient error max | median | s |\n|---|---|---|---|---|---|")
    for r in rows:
        s = "" if r["seconds"] is None else f"{r['seconds']:.1f}"
        print(f"| {r['contender']} | {r['snr_db']:.2f} | {r['correlation']:.4f} | {r['gradient_error_max']:.1%} | "
              f"{r['gradient_error_median']:.1%} | {s} |")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "rows": rows}, fh, indent=2)


if __name__ == "__main__":
    main()
