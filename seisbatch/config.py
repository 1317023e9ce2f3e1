"""Settings in one place: Dask's own config system, under the key ``seisbatch``.

The defaults live in ``seisbatch.yaml`` beside this module and are registered with
``dask.config.update_defaults`` (as dask-jobqueue and dask-cuda do), so users override them the
way they already configure Dask: YAML files in ~/.config/dask or $DASK_CONFIG, environment
variables such as ``DASK_SEISBATCH__DENOISE__BATCH_SIZE=16``, or ``dask.config.set`` in code.
Command-line options override all of these.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

import dask.config
import yaml

_DEFAULTS_FILE = resources.files("seisbatch") / "seisbatch.yaml"
DEFAULTS: dict = yaml.safe_load(_DEFAULTS_FILE.read_text())
dask.config.update_defaults(DEFAULTS)


def get(key: str) -> Any:
    """The value in effect for ``seisbatch.<key>`` (hyphens and underscores are the same)."""
    return dask.config.get(f"seisbatch.{key}")


def effective() -> dict:
    """Every seisbatch setting in effect, as a nested dict."""
    return dask.config.get("seisbatch")


def search_paths() -> list[str]:
    """Where Dask looks for YAML files, in order (later ones win, environment variables last)."""
    return list(dask.config.paths)


def defaults_file() -> str:
    return str(_DEFAULTS_FILE)
