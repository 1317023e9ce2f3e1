"""Time or depth: what a SEG-Y file's sample axis measures, and why seisbatch thinks so.

SEG-Y has no reliable field for it: the sample interval is stored in microseconds whatever the
domain, and many depth cubes put metres (or millimetres) there. The textual header usually says
(PSDM, depth migration, TWT ...); a record far longer than any seismic recording hints at depth.
The answer is shown by ``info`` and noted by ``convert``, which labels samples in ms unless told
``--sample-units m``; nothing is changed on a guess.
"""

from __future__ import annotations

import re

_DEPTH = re.compile(r"PSDM|DEPTH[ _-]?(?:MIGRAT\w*|DOMAIN|CUBE|VOLUME|SECTION|CONVERTED|CONVERSION)|IN DEPTH|TVDSS"
                    r"|Z[ _-]?AXIS", re.I)
_TIME = re.compile(r"PSTM|TIME[ _-]?(?:MIGRAT\w*|DOMAIN|CUBE|VOLUME|SECTION)|\bTWT\b|TWO[ _-]?WAY[ _-]?TIME|IN TIME",
                   re.I)
LONGEST_TIME_S = 20.0  # longer records than this are rare in time: the interval may be metres


def sample_domain(text: str, interval_us: int, n_samples: int) -> tuple[str, str]:
    """("time" | "depth" | "unsure", why) from the textual header and the record length."""
    depth, time = _DEPTH.search(text or ""), _TIME.search(text or "")
    if depth and not time:
        return "depth", f"the textual header says {depth.group(0)!r}"
    if time and not depth:
        return "time", f"the textual header says {time.group(0)!r}"
    if depth and time:
        return "unsure", f"the textual header says both {depth.group(0)!r} and {time.group(0)!r}"
    length_s = n_samples * interval_us / 1e6
    if length_s > LONGEST_TIME_S:
        return "unsure", (f"{n_samples} samples of {interval_us / 1000:g} would be a {length_s:.0f} s record, longer "
                          "than seismic recordings: the interval may be in metres")
    return "time", "assumed: the textual header names no domain"


def note(domain: tuple[str, str], sample_units: str) -> str | None:
    """What ``convert`` says when the samples may not be what ``sample_units`` labels them."""
    kind, why = domain
    if kind == "time" or sample_units in ("m", "ft"):
        return None
    what = "depth data" if kind == "depth" else "perhaps depth data"
    return f"{what} ({why}): samples are labelled in {sample_units}; give --sample-units m (or ft) if they are depths"


_EPSG = re.compile(r"EPSG\s*[:#]?\s*(\d{4,6})", re.I)


def coordinate_attrs(text: str, measurement: int) -> dict[str, str]:
    """Attributes of the cdp_x/cdp_y coordinates: their units from the binary header's measurement
    system (1 metres, 2 feet; none said otherwise) and the CRS when the textual header names an
    EPSG code."""
    attrs = {"long_name": "CDP coordinate"}
    units = {1: "m", 2: "ft"}.get(measurement)
    if units:
        attrs["units"] = units
    crs = _EPSG.search(text or "")
    if crs:
        attrs["crs"] = f"EPSG:{crs.group(1)}"
    return attrs
