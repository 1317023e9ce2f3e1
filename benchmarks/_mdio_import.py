"""Run with MDIO's own Python: `python _mdio_import.py IN.sgy OUT.mdio [TEMPLATE]` (default
PostStack3DTime; the gather fixtures of tests/data/mdio used CdpOffsetGathers2DTime and
CdpOffsetGathers3DTime). MDIO 1.1.3's `mdio segy import` command is broken (it calls segy_to_mdio
with arguments it no longer takes), so this calls the documented Python API the same way the
command means to. Gather templates need the cdp (byte 21) and offset (37) fields named."""

import sys

from mdio import segy_to_mdio
from mdio.builder.template_registry import get_template
from segy.schema import HeaderField
from segy.standards import get_segy_standard

if __name__ == "__main__":  # MDIO ingests on a spawned process pool that re-imports this file
    template = sys.argv[3] if len(sys.argv) > 3 else "PostStack3DTime"
    spec = get_segy_standard(1.0)
    if "Gathers" in template:
        spec = spec.customize(trace_header_fields=[
            HeaderField(name=n, byte=b, format="int32")
            for n, b in (("cdp", 21), ("offset", 37), ("inline", 189), ("crossline", 193), ("cdp_x", 181), ("cdp_y", 185))])
    segy_to_mdio(spec, get_template(template), sys.argv[1], sys.argv[2], overwrite=True)
