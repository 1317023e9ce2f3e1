"""The seisbatch Zarr v3 store: layout, creation, opening and completion state.

Layout (MDIO v1 names where they cost nothing), readable by plain ``xarray.open_zarr``:

- ``amplitude``    float32, dims (inline, crossline, sample) or (trace, sample)
- ``trace_mask``   bool over the trace grid; False where no trace exists (samples are 0)
- ``raw_headers``  uint8 (..., header_byte=240): every trace header exactly as in the file
- ``raw_samples``  the file's sample bit patterns, written only for traces whose value does not
  survive float32 (``raw_trace`` True); empty, and free, for ordinary files
- ``trace_order``  flat trace-grid index of each file trace, in file order, to write it back
- coordinates: ``inline``/``crossline`` or ``trace``, ``sample`` (ms or m), ``cdp_x``/``cdp_y``

Root attribute ``seisbatch`` holds the state ("converting" until every block is written, then
"complete"), geometry, the raw file headers (base64), provenance and amplitude statistics.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import shutil
import warnings
from typing import Any

import numpy as np
import zarr
from zarr.codecs import BloscCodec

from . import __version__, config
from .errors import SeisbatchError
from .segy_format import TRACE_HEADER_SIZE

FORMAT_VERSION = 1
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
HEADER_BYTES = TRACE_HEADER_SIZE

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


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def default_chunks(dims: tuple[str, ...], n_samples: int) -> tuple[int, ...]:
    """Chunks of ~2 MiB by default: settings ``seisbatch.convert.chunks-3d`` (32, 32, 512) and
    ``chunks-2d`` (1024, 512, for 2D lines and trace-ordered data); never more samples than a trace has."""
    c = [int(v) for v in config.get("convert.chunks-3d" if len(dims) == 2 else "convert.chunks-2d")]
    return tuple(c[:-1]) + (min(n_samples, c[-1]),)


def codec_name(arr: zarr.Array) -> str:
    """'lz4', 'zstd', ... for a Blosc-compressed array, 'none' without compression."""
    comps = arr.compressors
    if not comps:
        return "none"
    cname = getattr(comps[0], "cname", None)  # an enum on zarr's BloscCodec
    return str(getattr(cname, "value", cname)) if cname is not None else type(comps[0]).__name__


def is_url(path: str | os.PathLike) -> bool:
    """An fsspec URL (s3://bucket/survey.zarr, gs://..., memory://...) rather than a local path."""
    return "://" in os.fspath(path)


def url_fs(url: str):
    """(filesystem, path inside it) of an fsspec URL; credentials and endpoints come from the
    usual places (environment variables such as AWS_ENDPOINT_URL, ~/.aws, fsspec config)."""
    import fsspec

    return fsspec.core.url_to_fs(url)


def is_store(path: str) -> bool:
    """Whether a Zarr group is at ``path`` (local directory or URL)."""
    if is_url(path):
        fs, p = url_fs(path)
        return fs.exists(p.rstrip("/") + "/zarr.json")
    return os.path.isdir(path)


_ZARR_MARKERS = ("zarr.json", ".zgroup", ".zarray")


def is_zarr_dir(path: str) -> bool:
    """Whether the local directory ``path`` holds Zarr metadata at its top (v3, or v2)."""
    return any(os.path.isfile(os.path.join(path, m)) for m in _ZARR_MARKERS)


def prepare_output(path: str, overwrite: bool, inputs: tuple[str, ...] = (), kind: str = "file") -> None:
    """Refuse to clobber an existing output unless asked; never remove an input, nor anything
    that is not the kind of output asked for: with ``overwrite``, an existing Zarr store (or an
    empty directory) is removed for a new store (``kind="store"``), while a directory that is not
    a store, or a file where a store goes, is refused, so a mistyped path cannot wipe a folder. A
    file output (``kind="file"``) is not removed here: its writer replaces it only once the new
    file is complete (written beside it, then renamed), so a failed run leaves the old one whole."""
    if is_url(path):
        fs, p = url_fs(path)
        if fs.exists(p):
            if not overwrite:
                raise SeisbatchError(path, "output exists (use --overwrite to replace it)")
            if kind == "store":
                if not is_store(path):
                    raise SeisbatchError(path, "exists and is not a Zarr store: not replaced, even with --overwrite "
                                               "(remove it yourself or choose another path)")
                fs.rm(p, recursive=True)
        return
    real = os.path.realpath(path)
    if any(os.path.realpath(i) == real for i in inputs):
        raise SeisbatchError(path, "output is the same path as the input")
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise SeisbatchError(path, "output exists (use --overwrite to replace it)")
    if os.path.islink(path):
        if kind == "store":
            os.remove(path)  # the link only, never what it points to
        return
    if os.path.isdir(path):
        if kind == "file":
            raise SeisbatchError(path, "is a directory: give the path of the file to write")
        if os.listdir(path) and not is_zarr_dir(path):
            raise SeisbatchError(path, "is a directory that is not a Zarr store: not replaced, even with "
                                       "--overwrite (remove it yourself or choose another path)")
        shutil.rmtree(path)
    elif kind == "store":
        raise SeisbatchError(path, "is a file, not a Zarr store: not replaced, even with --overwrite "
                                   "(remove it yourself or choose another path)")


def create(
    path: str,
    *,
    dims: tuple[str, ...],
    axes: dict[str, np.ndarray],
    samples: np.ndarray,
    sample_units: str,
    chunks: tuple[int, ...],
    attrs: dict[str, Any],
    with_headers: bool,
    with_raw_samples: np.dtype | None,
    n_file_traces: int,
    trace_coords: dict[str, np.ndarray] | None = None,
    compression: str | None = None,
) -> zarr.Group:
    """Write the metadata-only template of a store; workers then fill chunk-aligned regions."""
    grid = tuple(len(axes[d]) for d in dims)
    n_samples = len(samples)
    root = zarr.open_group(path, mode="w-", zarr_format=3)
    meta = dict(attrs, state="converting", format_version=FORMAT_VERSION, tool=f"seisbatch {__version__}")
    root.attrs["seisbatch"] = meta
    amp_dims = list(dims) + ["sample"]
    coords = " ".join(sorted((trace_coords or {}).keys()))
    root.create_array(
        "amplitude", shape=grid + (n_samples,), chunks=chunks, dtype="float32", fill_value=0.0,
        dimension_names=amp_dims, compressors=amplitude_codec(compression),
        attributes={"long_name": "amplitude", "coordinates": coords} if coords else {"long_name": "amplitude"},
    )
    grid_chunks = chunks[:-1]
    root.create_array("trace_mask", shape=grid, chunks=grid_chunks, dtype="bool", fill_value=False, dimension_names=list(dims))
    if with_headers:
        root.create_array(
            "raw_headers", shape=grid + (HEADER_BYTES,), chunks=grid_chunks + (HEADER_BYTES,), dtype="uint8",
            fill_value=0, dimension_names=list(dims) + ["header_byte"],
        )
    if with_raw_samples is not None:
        root.create_array(
            "raw_samples", shape=grid + (n_samples,), chunks=chunks, dtype=with_raw_samples, fill_value=0,
            dimension_names=amp_dims,
        )
        root.create_array("raw_trace", shape=grid, chunks=grid_chunks, dtype="bool", fill_value=False, dimension_names=list(dims))
    root.create_array(
        "trace_order", shape=(n_file_traces,), chunks=(min(max(n_file_traces, 1), 1 << 20),), dtype="int64",
        fill_value=-1, dimension_names=["file_trace"],
    )
    for d in dims:
        arr = root.create_array(d, shape=(len(axes[d]),), dtype=axes[d].dtype, dimension_names=[d])
        arr[:] = axes[d]
    s = root.create_array("sample", shape=(n_samples,), dtype="float64", dimension_names=["sample"], attributes={"units": sample_units})
    s[:] = samples
    side = round((1 << 20) ** (1 / len(grid)))  # ~1M cells per coordinate chunk: few small writes
    for name, values in (trace_coords or {}).items():
        chunks_c = tuple(min(n, max(c, side)) for n, c in zip(values.shape, grid_chunks))
        c = root.create_array(name, shape=values.shape, chunks=chunks_c, dtype=values.dtype, dimension_names=list(dims))
        c[...] = values
    return root


def write_trace_order(path: str, grid_index: np.ndarray) -> None:
    zarr.open_array(store=path, path="trace_order", mode="r+")[:] = grid_index


def open_root(path: str, mode: str = "r") -> zarr.Group:
    """Open a seisbatch store, with a clear error if it is not one."""
    if not is_store(path):
        raise SeisbatchError(path, "no such store (expected a directory or URL made by `seisbatch convert`)")
    try:
        root = zarr.open_group(path, mode=mode)
    except Exception as exc:  # zarr raises several types for "not a group"
        raise SeisbatchError(path, f"not a Zarr store: {exc}") from exc
    if "seisbatch" not in root.attrs:
        if "apiVersion" in root.attrs:  # MDIO v1 writes its version there
            raise SeisbatchError(path, f"an MDIO {root.attrs['apiVersion']} store, not a seisbatch store: convert it "
                                       "with `seisbatch convert STORE.mdio OUT.zarr` first")
        raise SeisbatchError(path, "not a seisbatch store (no 'seisbatch' attributes): make one with `seisbatch convert`")
    return root


def meta(root: zarr.Group) -> dict:
    return dict(root.attrs.get("seisbatch", {}))


def open_complete(path: str, mode: str = "r") -> zarr.Group:
    """Open a store that finished converting; a half-converted store is refused."""
    root = open_root(path, mode)
    state = meta(root).get("state", "complete")
    if state != "complete":
        raise SeisbatchError(path, f"store is incomplete (state {state!r}): the conversion did not finish; convert again")
    return root


def update_meta(path: str, **changes: Any) -> None:
    root = zarr.open_group(path, mode="r+")
    m = meta(root)
    m.update(changes)
    root.attrs["seisbatch"] = m


def consolidate(path: str) -> None:
    """Consolidated metadata lets xarray open the store with one read."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Consolidated metadata is currently not part")
        zarr.consolidate_metadata(path)


BLOCK_LOG = "_convert_blocks"  # exists only while a conversion is unfinished


def create_block_log(path: str, n_blocks: int, row_length: int) -> None:
    """One row per conversion block, written by the block's task after its data: column 0 is 1
    when the block is done, the rest its partial statistics, so a resumed conversion needs only
    the missing blocks and still gets survey statistics over all of them."""
    zarr.open_group(path, mode="r+").create_array(
        BLOCK_LOG, shape=(n_blocks, 1 + row_length), chunks=(1, 1 + row_length), dtype="float64", fill_value=0.0)


def write_block_row(path: str, index: int, row: np.ndarray, run: str | None = None) -> None:
    """Log block ``index`` done: the done flag, then its statistics (through :func:`writable`
    when a conversion ``run`` is given)."""
    arr = writable(path, BLOCK_LOG, run) if run else zarr.open_array(store=path, path=BLOCK_LOG, mode="r+")
    arr[index] = np.concatenate([[1.0], row])


_WRITABLE: dict[tuple[str, str, str], zarr.Array] = {}


def writable(path: str, name: str, run: str) -> zarr.Array:
    """Array ``name`` of the store being written at ``path``, opened once per worker process and
    run (``run`` is unique to one convert call, so a store replaced later is opened afresh): each
    open reads and parses the array's metadata, ~1.5 ms, several times per block otherwise.

    Every chunk given to it is written, even one equal to the fill value: zarr's check for that
    costs ~1 ms per 2 MiB chunk, a quarter of a conversion block's time, and the converters know
    better and for free which blocks hold no trace (they skip those, leaving the fill value)."""
    key = (path, name, run)
    arr = _WRITABLE.get(key)
    if arr is None:
        use_codec_pipeline()  # the setting may have changed since this module was imported
        if len(_WRITABLE) >= 64:
            _WRITABLE.clear()
        arr = zarr.open_array(store=path, path=name, mode="r+").with_config({"write_empty_chunks": True})
        _WRITABLE[key] = arr
    return arr


def read_block_log(path: str) -> list[np.ndarray | None]:
    """Each block's row, None where it is not done (or its row cannot be read back whole)."""
    arr = zarr.open_array(store=path, path=BLOCK_LOG, mode="r")
    try:
        rows = list(arr[:])  # one read of every chunk, the usual case
    except Exception:  # a row torn by a killed process: read row by row, the torn one counts as not done
        rows = []
        for i in range(arr.shape[0]):
            try:
                rows.append(arr[i])
            except Exception:
                rows.append(None)
    return [r[1:] if r is not None and r[0] == 1.0 else None for r in rows]


def unfinished_conversion(path: str, source: dict, options: dict) -> zarr.Group | None:
    """The store at ``path`` when it is an unfinished conversion of the same file (path, size,
    modification time) with the same options; else None."""
    if not is_store(path):
        return None
    try:
        root = zarr.open_group(path, mode="r")
        m = meta(root)
    except Exception:
        return None
    if (m.get("state") == "converting" and m.get("convert_options") == options
            and same_source(m.get("source", {}), source)):
        return root
    return None


def source_id(src: str) -> dict:
    """What identifies an input file as it is now: its absolute path, size and modification time."""
    st = os.stat(src)
    return {"path": os.path.abspath(src), "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def same_source(recorded: dict, source: dict) -> bool:
    """Whether a store's recorded source is the same file, unchanged, as ``source`` (:func:`source_id`)."""
    return all(recorded.get(k) == source.get(k) for k in ("path", "size", "mtime_ns"))


def finish(path: str, **changes: Any) -> None:
    """Mark the store complete (last step of a conversion) and consolidate its metadata."""
    root = zarr.open_group(path, mode="r+")
    if BLOCK_LOG in root:
        del root[BLOCK_LOG]
    update_meta(path, state="complete", **changes)
    consolidate(path)


try:  # every seisbatch process (client or worker) opens its arrays with the chosen pipeline
    use_codec_pipeline()
except SeisbatchError:  # an unknown or missing pipeline: said clearly by the CLI and by the writers
    pass
