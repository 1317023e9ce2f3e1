"""Run with MDIO's own Python: `python _mdio_import.py IN.sgy OUT.mdio`. MDIO 1.1.3's
`mdio segy import` command is broken (it calls segy_to_mdio with arguments it no longer takes),
so the benchmark calls the documented Python API the same way the command means to."""

import sys

from mdio import segy_to_mdio
from mdio.builder.template_registry import get_template
from segy.standards import get_segy_standard

if __name__ == "__main__":  # MDIO ingests on a spawned process pool that re-imports this file
    segy_to_mdio(get_segy_standard(1.0), get_template("PostStack3DTime"), sys.argv[1], sys.argv[2], overwrite=True)
