"""MDIO v1 stores as input: the fixtures were made by TGS MDIO 1.1.3 itself (its Python API, as in
benchmarks/_mdio_import.py) from tests/data/segysak_f3-withdead.sgy, once with raw headers and the
file header kept (MDIO__IMPORT__RAW_HEADERS=1, MDIO__IMPORT__SAVE_SEGY_FILE_HEADER=1), once
without. Converting them must give the SEG-Y file's values and headers back."""

import filecmp
import pathlib
import shutil
import warnings

import numpy as np
import pytest
import segyio
import zarr

from conftest import sha256
from seisbatch import cli, convert, export, mdio_source, store
from seisbatch.errors import SeisbatchError

DATA = pathlib.Path(__file__).parent / "data"
SEGY = DATA / "segysak_f3-withdead.sgy"
FULL = DATA / "mdio" / "f3_full.mdio"
PLAIN = DATA / "mdio" / "f3_plain.mdio"


def tree_digest(path: pathlib.Path) -> dict:
    return {p.relative_to(path).as_posix(): sha256(p) for p in sorted(path.rglob("*")) if p.is_file()}


def test_with_raw_and_file_headers_the_original_segy_comes_back_byte_for_byte(tmp_path, client):
    before = tree_digest(FULL)
    z = tmp_path / "m.zarr"
    summary = convert.convert_mdio(FULL, z, client=client)
    assert summary["geometry"] == "3d" and summary["traces"] == 239
    assert not any("made up" in n for n in summary["notes"])
    # MDIO 1.1.3 starts its time axis at 0; the file's headers say the first sample is at 4 ms
    assert any("4 ms recording delay" in n and "starts at 0 ms" in n for n in summary["notes"])
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(SEGY, tmp_path / "back.sgy", shallow=False)
    direct = convert.convert_segy(SEGY, tmp_path / "direct.zarr", client=client)
    assert summary["stats"] == direct["stats"]
    assert tree_digest(FULL) == before  # the input store is never modified


def test_without_them_values_and_header_fields_still_equal_segyio(tmp_path, client):
    z = tmp_path / "m.zarr"
    summary = convert.convert_mdio(PLAIN, z, client=client)
    assert sum("made up" in n for n in summary["notes"]) == 2  # textual and binary headers
    root = zarr.open_group(z, mode="r")
    cells = np.unravel_index(root["file/trace_order"][:], root["trace_mask"].shape)
    with segyio.open(SEGY, ignore_geometry=True) as f:
        ref = f.trace.raw[:]
        raw = open(SEGY, "rb").read()
    headers = np.frombuffer(raw[3600:], np.uint8).reshape(f.tracecount, -1)[:, :240]
    assert np.array_equal(root["amplitude"][:][cells], ref)
    assert np.array_equal(root["file/raw_headers"][:][cells][:, :232], headers[:, :232])  # MDIO parses bytes 1-232
    assert not root["amplitude"][:][~root["trace_mask"][:]].any()  # MDIO's NaN for dead traces becomes 0
    assert root["sample"].attrs["units"] == "ms" and root["sample"][1] == 4.0
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    with segyio.open(tmp_path / "back.sgy", ignore_geometry=True) as g, segyio.open(SEGY, ignore_geometry=True) as f:
        assert int(g.format) == 5 and np.array_equal(g.trace.raw[:], ref)  # IEEE: the values MDIO kept, exactly
        assert np.array_equal(g.attributes(189)[:], f.attributes(189)[:])
        assert np.array_equal(g.attributes(193)[:], f.attributes(193)[:])


def _rechunked(src: pathlib.Path, dst: pathlib.Path, chunks=(8, 8, 32)) -> pathlib.Path:
    """A copy of an MDIO store with smaller chunks, so the conversion spans several blocks and slabs."""
    shutil.copytree(src, dst)
    g = zarr.open_group(dst, mode="r+")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zarr: MDIO's raw-bytes and structured dtypes have no v3 spec yet
        for name in ("amplitude", "trace_mask", "raw_headers", "headers"):
            arr = g[name]
            data = arr[...]
            spec = dict(shape=arr.shape, dtype=arr.dtype, fill_value=arr.fill_value, attributes=dict(arr.attrs),
                        dimension_names=arr.metadata.dimension_names,
                        chunks=tuple(min(c, s) for c, s in zip(chunks, arr.shape)))
            del g[name]
            g.create_array(name, **spec)[...] = data
    return dst


def test_several_blocks_and_sample_slabs_through_the_cli(tmp_path, capsys, client):
    src = _rechunked(FULL, tmp_path / "small.mdio")
    z = tmp_path / "m.zarr"
    assert cli.main(["convert", str(src), str(z), "--chunks", "4,4,16", "--quiet", "--scheduler",
                     client.scheduler.address]) == 0
    out = capsys.readouterr().out
    assert "in 9 blocks" in out and "from an MDIO 1.1.3 store" in out  # 8x8 MDIO chunks over 4x4 store chunks
    assert zarr.open_group(z, mode="r")["amplitude"].chunks == (4, 4, 16)
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(SEGY, tmp_path / "back.sgy", shallow=False)


def test_what_seisbatch_cannot_hold_is_refused_clearly(tmp_path):
    pre = tmp_path / "prestack.mdio"
    root = zarr.open_group(pre, mode="w", zarr_format=3)
    root.attrs.update({"apiVersion": "1.1.3", "attributes": {"defaultVariableName": "amplitude"}})
    root.create_array("amplitude", shape=(2, 3, 4, 10), dtype="float32",
                      dimension_names=["shot_point", "cable", "channel", "time"])
    root.create_array("trace_mask", shape=(2, 3, 4), dtype="bool", dimension_names=["shot_point", "cable", "channel"])
    with pytest.raises(SeisbatchError, match="post-stack 3D"):
        convert.convert_mdio(pre, tmp_path / "out.zarr")
    old = tmp_path / "old.mdio"
    zarr.open_group(old, mode="w", zarr_format=3).attrs["apiVersion"] = "0.9.0"
    assert mdio_source.is_mdio(old) and not mdio_source.is_mdio(SEGY)
    with pytest.raises(SeisbatchError, match="only MDIO v1"):
        convert.convert_mdio(old, tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()
    assert cli.main(["convert", str(FULL), str(tmp_path / "out.zarr"), "--checksum", "--workers", "1", "--quiet"]) == 2
    assert not (tmp_path / "out.zarr").exists()  # a directory has no sha256: refused before anything is written
    with pytest.raises(SeisbatchError, match="not a seisbatch store: convert it with `seisbatch convert "):
        store.open_complete(str(FULL))  # denoise, export and qc take seisbatch stores only


def test_a_2d_line(tmp_path, client):
    """gundih_2d_100.mdio: MDIO 1.1.3's PostStack2DTime template (cdp from byte 189), raw and file
    headers kept, made from the first 100 traces of tests/data/gundih_2D_Xline_12680.sgy."""
    raw = (DATA / "gundih_2D_Xline_12680.sgy").read_bytes()
    first = raw[: 3600 + 100 * (240 + 1499 * 4)]  # a fixed-length SEG-Y cut after trace 100 is still one
    z = tmp_path / "line.zarr"
    summary = convert.convert_mdio(DATA / "mdio" / "gundih_2d_100.mdio", z, client=client)
    assert summary["geometry"] == "2d" and summary["shape"] == [100, 1499]
    assert not any("recording delay" in n for n in summary["notes"])  # this line has none
    root = zarr.open_group(z, mode="r")
    assert tuple(root["amplitude"].metadata.dimension_names) == ("trace", "sample")
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    back = (tmp_path / "back.sgy").read_bytes()
    # MDIO keeps the textual header as text decoded from EBCDIC; this file's code page is unusual,
    # so a few of its characters do not survive. Everything after it comes back byte for byte.
    assert len(back) == len(first) and back[3200:] == first[3200:]
    assert sum(a != b for a, b in zip(back[:3200], first[:3200])) < 100


def test_info_says_what_convert_would_take(capsys):
    for path, kept in ((FULL, "trace headers, textual header, binary header"), (PLAIN, "trace headers (")):
        assert cli.main(["info", str(path)]) == 0
        out = capsys.readouterr().out
        assert "MDIO 1.1.3, variable 'amplitude': inline=23  crossline=18  time=75" in out
        assert "239 live" in out and f"kept:       {kept}" in out


def test_an_mdio_store_missing_its_axis_or_with_a_wrong_mask_is_refused(tmp_path):
    for broken in ("time", "trace_mask"):
        path = tmp_path / f"no-{broken}.mdio"
        shutil.copytree(FULL, path)
        g = zarr.open_group(path, mode="r+")
        del g[broken]
        if broken == "trace_mask":
            g.create_array("trace_mask", shape=(3, 3), dtype="bool", dimension_names=["inline", "crossline"])
        with pytest.raises(SeisbatchError, match="axis values" if broken == "time" else "does not match"):
            convert.convert_mdio(path, tmp_path / "out.zarr")
        assert cli.main(["info", str(path)]) == 2  # one clear line, not a traceback


@pytest.mark.parametrize("name,kind,dims", [
    ("cmp2d", "cmp2d", ("cdp", "offset", "sample")),
    ("cmp3d", "cmp3d", ("inline", "crossline", "offset", "sample")),
])
def test_mdio_cdp_gathers_keep_their_offset_axis_and_export_byte_for_byte(tmp_path, client, name, kind, dims):
    """MDIO's CdpOffsetGathers templates: the gathers stay gathers (MDIO's dim names), with the
    gathers' coordinates over their offsets, and the SEG-Y file MDIO read comes back."""
    src = DATA / "mdio" / f"{name}_gathers.mdio"
    before = tree_digest(src)
    z = tmp_path / "g.zarr"
    summary = convert.convert_mdio(src, z, client=client)
    assert summary["geometry"] == kind and not any("made up" in n for n in summary["notes"])
    root = zarr.open_group(str(z), mode="r")
    assert tuple(root["amplitude"].metadata.dimension_names) == dims
    assert list(root["offset"][:]) == list(range(100, 100 * root["amplitude"].shape[-2] + 1, 100))
    x = root["cdp_x"][:]
    assert np.isfinite(x).all() and (np.diff(x, axis=-1) == 0).all() and len(np.unique(x)) > 1
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(DATA / "mdio" / f"{name}_gathers.sgy", tmp_path / "back.sgy", shallow=False)
    assert tree_digest(src) == before
