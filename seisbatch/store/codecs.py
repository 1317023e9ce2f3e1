"""Zarr codecs of a store: the amplitude compression, and the codec pipeline (zarr-python's or
zarrs') every seisbatch process reads and writes with."""

from __future__ import annotations

import importlib.util
import warnings

import zarr
from zarr.codecs import BloscCodec

from .. import config
from ..errors import SeisbatchError


#: Codecs for amplitude arrays (``convert --compression``, setting ``seisbatch.convert.compression``).
#: Bit shuffle, not byte shuffle: float32 samples share their exponent and top mantissa bits, which
#: bit planes expose. Compressed size, real files in ../shared/data (66%, 19%, 0% zero samples) and
#: the benchmark's noisy synthetic: lz4 34%, 53%, 76%, 86% (byte shuffle: 31%, 58%, 90%, 92%) at
#: 1.1-2.1 GB/s per core (byte shuffle: 0.9-1.4 GB/s, 2.6 on the mostly-zero line); zstd 31%, 47%,
#: 74%, 86%, at 0.17-0.52 GB/s (benchmarks/codecs.py). lz4 is the default: most of the gain, little time.
AMPLITUDE_CODECS: dict[str, BloscCodec | None] = {
    "lz4": BloscCodec(cname="lz4", clevel=5, shuffle="bitshuffle"),
    "zstd": BloscCodec(cname="zstd", clevel=3, shuffle="bitshuffle"),
    "none": None,
}


#: zarr-python's own codec pipeline, and zarrs' (Rust): the same format and chunks, read and
#: written by either. zarrs encodes and writes a block's chunks without zarr-python's per-chunk
#: asyncio work: conversions ~15-20% faster here (benchmarks/convert_ab.py, README).
PIPELINES = {"zarr": "zarr.core.codec_pipeline.BatchedCodecPipeline", "zarrs": "zarrs.ZarrsCodecPipeline"}


# zarrs hands an array of a data type it does not know (MDIO's structured headers and string
# arrays) back to zarr-python's pipeline, with a warning for each array opened, and on the way
# zarr warns that the type has no Zarr v3 specification. Neither is news to someone converting an
# MDIO store; seisbatch's own arrays use neither kind of type.
def quiet_foreign_dtypes() -> None:
    """Ignore those two warnings in this process (done when this module is imported)."""
    warnings.filterwarnings("ignore", message="Array is unsupported by ZarrsCodecPipeline", category=UserWarning)
    warnings.filterwarnings("ignore", message=r"The data type \(.*\) does not have a Zarr V3 specification")


quiet_foreign_dtypes()


def use_codec_pipeline(name: str | None = None) -> str:
    """Point this process's zarr at the codec pipeline ``name`` (default: setting
    ``seisbatch.codec-pipeline``) for arrays opened from now on, and return the one in use:
    'zarrs', 'zarr', or for 'auto' zarrs where it is installed. Under 'auto' a pipeline chosen
    through zarr's own config (``ZARR_CODEC_PIPELINE__PATH``) is left alone."""
    name = name or str(config.get("codec-pipeline"))
    current = zarr.config.get("codec_pipeline.path")
    if name == "auto":
        if current not in PIPELINES.values():
            return current
        name = "zarrs" if importlib.util.find_spec("zarrs") is not None else "zarr"
    if name not in PIPELINES:
        raise SeisbatchError(None, f"unknown codec pipeline {name!r}: choose auto, {' or '.join(PIPELINES)}")
    if name == "zarrs" and importlib.util.find_spec("zarrs") is None:
        raise SeisbatchError(None, "codec pipeline 'zarrs' asked for, but the zarrs package is not installed "
                                   "(pip install zarrs)")
    if current != PIPELINES[name]:
        zarr.config.set({"codec_pipeline.path": PIPELINES[name]})
    return name


def compression_name(name: str | None = None) -> str:
    """``name`` (default: setting ``seisbatch.convert.compression``), checked to be a known codec."""
    name = name or str(config.get("convert.compression"))
    if name not in AMPLITUDE_CODECS:
        raise SeisbatchError(None, f"unknown compression {name!r}: choose one of {', '.join(AMPLITUDE_CODECS)}")
    return name


def amplitude_codec(name: str | None = None) -> BloscCodec | None:
    """The amplitude codec called ``name`` (default: setting ``seisbatch.convert.compression``)."""
    return AMPLITUDE_CODECS[compression_name(name)]


def codec_name(arr: zarr.Array) -> str:
    """'lz4', 'zstd', ... for a Blosc-compressed array, 'none' without compression."""
    comps = arr.compressors
    if not comps:
        return "none"
    cname = getattr(comps[0], "cname", None)  # an enum on zarr's BloscCodec
    return str(getattr(cname, "value", cname)) if cname is not None else type(comps[0]).__name__
