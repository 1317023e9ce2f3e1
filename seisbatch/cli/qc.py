"""``seisbatch qc``: metrics and the figure of a denoised array."""

from __future__ import annotations

import argparse
import json

from .common import Renamed


def add_parser(sub) -> None:
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
    q.add_argument("--array", dest="output", default="denoised", metavar="NAME", help="array to check (default denoised)")
    q.add_argument("--output", dest="output", action=Renamed, new="--array")
    q.add_argument("--compare", default=None, metavar="ARRAY",
                   help="a second output of the store (e.g. fxdecon from `denoise --method fx`) measured the same way "
                        "and shown beside the first, with what each removed")
    q.add_argument("--section", default=None, help="section for the figure: inline:NUMBER or crossline:NUMBER "
                   "(line numbers as in the headers; default the middle inline; 2D stores show the whole line); "
                   "in a gather store a gather, e.g. cdp:1010 or inline:1000,crossline:2003 (default the middle one)")
    q.add_argument("--clean", default=None, metavar="STORE", help="store of the noise-free survey, for SNR")
    q.add_argument("--png", dest="png", action=Renamed, new="--out")
    q.add_argument("--out", dest="png", default=None, help="figure path (default: beside the store, STORE.qc-OUTPUT.png); a folder gets that name inside it, a name without a suffix gets .png")
    q.add_argument("--json", action="store_true", help="machine-readable metrics, per section")
    q.add_argument("--precision-check", action="store_true",
                   help="measure the output's error against float32 inference with the same model on one tile of the "
                        "figure's section (done anyway for outputs computed in bfloat16 or float16)")
    q.set_defaults(func=cmd_qc)


def cmd_qc(args: argparse.Namespace) -> int:
    from .. import qc

    r = qc.qc(args.store, args.output, args.section, args.clean, args.png, args.precision_check or None, args.compare)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    print(f"QC of {args.store} array {r['output']!r}, {len(r['sections'])} {r['direction']} section(s)"
          + (" of the trial over " + ", ".join(f"{d} {lo:g}..{hi:g}" for d, (lo, hi) in r["trial"].items())
             if r.get("trial") else ""))
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
