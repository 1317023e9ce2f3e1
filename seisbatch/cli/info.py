"""``seisbatch info``: what a store, a SEG-Y, HDF5 or MDIO input holds, as text or JSON."""

from __future__ import annotations

import argparse
import json

from .. import progress
from ..errors import SeisbatchError
from .common import header_args, header_options


def add_parser(sub) -> None:
    i = sub.add_parser("info", help="describe a store, a SEG-Y file or an HDF5 file",
                       description="Geometry, dims, sampling, amplitude statistics, arrays and their completeness.")
    i.add_argument("path", help="store, SEG-Y or HDF5 file")
    i.add_argument("--json", action="store_true", help="machine-readable output")
    i.add_argument("--text-header", action="store_true", help="also print the SEG-Y textual header")
    header_args(i)
    i.add_argument("--quiet", action="store_true",
                   help="no progress bar (a SEG-Y file's header scan shows one on stderr once it has taken a second)")
    i.set_defaults(func=cmd_info)


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
    lines.append(f"  sampling:   {d['sample_interval']} {d['sample_units']}"
                 + (f" ({d['domain']['kind']}: {d['domain']['why']}"
                    + ("; convert with --sample-units m if the samples are depths" if d["domain"]["kind"] != "time"
                       else "") + ")" if d.get("domain") else ""))
    if d["kind"] == "segy":
        lines += [f"  traces:     {d['traces']}", f"  format:     {d['format']}, {d['endian']}-endian",
                  f"  inlines:    {d['inline_range'][0]}..{d['inline_range'][1]}",
                  f"  crosslines: {d['crossline_range'][0]}..{d['crossline_range'][1]}"]
        if geom.get("kind") in ("cmp3d", "cmp2d", "shot"):  # the gathers' keys
            lines += [f"  {k + ':':<11} {lo}..{hi} (byte {b})" for k, (lo, hi, b) in d.get("key_ranges", {}).items()]
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
    from .. import info
    from ..specs import ConvertSpec

    try:
        options = ConvertSpec(**header_options(args))
    except ValueError as exc:
        raise SeisbatchError(args.path, str(exc)) from None
    update, close = progress.bar("scan headers", args.quiet, unit="trace", delay=1.0)
    try:
        d = info.describe(args.path, options, progress=update)
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
