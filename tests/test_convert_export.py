"""convert and export on the real files and on generated files of every format: values equal to
segyio's, headers kept, the store readable by xarray, and export byte-identical to the input."""

import filecmp
import os

import numpy as np
import pytest
import segyio
import xarray as xr
import zarr

from conftest import REAL_FILES, sha256
from seisbatch import convert, export, info, store, synthetic
from seisbatch.errors import SeisbatchError
from seisbatch.sources import segy as segy_source


def segyio_endian(path):
    return "little" if "lsb" in path.name else "big"


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_file_round_trip_is_byte_exact(path, tmp_path, client):
    before = sha256(path)
    z = tmp_path / "s.zarr"
    convert.convert_segy(path, z, client=client)
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(path, tmp_path / "back.sgy", shallow=False)
    assert sha256(path) == before  # the input is never modified


@pytest.mark.parametrize("path", REAL_FILES, ids=lambda p: p.name)
def test_real_file_values_and_headers_equal_segyio(path, tmp_path, client):
    z = tmp_path / "s.zarr"
    convert.convert_segy(path, z, client=client)
    root = zarr.open_group(z, mode="r")
    order = root["file/trace_order"][:]
    grid = root["trace_mask"].shape
    cells = np.unravel_index(order, grid)
    amp = root["amplitude"][:][cells]
    hdr = root["file/raw_headers"][:][cells]
    with segyio.open(path, ignore_geometry=True, endian=segyio_endian(path)) as f:
        ref = np.stack([f.trace[i] for i in range(f.tracecount)]).astype(np.float32)
        assert np.array_equal(amp, ref)
        assert np.allclose(root["sample"][:], f.samples)
        ils = f.attributes(segyio.su.iline)[:]
        xls = f.attributes(segyio.su.xline)[:]
    e = segyio_endian(path)
    assert np.array_equal([int.from_bytes(h[188:192], e, signed=True) for h in hdr], ils)
    assert np.array_equal([int.from_bytes(h[192:196], e, signed=True) for h in hdr], xls)
    raw = path.read_bytes()
    trace_bytes = (len(raw) - 3600) // len(order)
    for i in range(len(order)):
        assert hdr[i].tobytes() == raw[3600 + i * trace_bytes : 3600 + i * trace_bytes + 240]
    mask = root["trace_mask"][:]
    assert mask.sum() == len(order)
    assert np.all(root["amplitude"][:][~mask] == 0)


def test_geometries_of_the_real_files(data_dir, tmp_path, client):
    kinds = {}
    for name in ("segyio_f3.sgy", "segysak_f3-withdead.sgy", "gundih_2D_Xline_12680.sgy", "segyio_viking_small.segy"):
        kinds[name] = convert.convert_segy(data_dir / name, tmp_path / f"{name}.zarr", client=client)
    assert kinds["segyio_f3.sgy"]["geometry"] == "3d" and kinds["segyio_f3.sgy"]["shape"] == [23, 18, 75]
    dead = kinds["segysak_f3-withdead.sgy"]
    assert dead["geometry"] == "3d" and dead["shape"] == [23, 18, 75] and dead["traces"] == 239
    assert kinds["gundih_2D_Xline_12680.sgy"]["geometry"] == "2d"
    assert kinds["gundih_2D_Xline_12680.sgy"]["shape"] == [650, 1499]
    assert kinds["segyio_viking_small.segy"]["geometry"] == "shot"  # pre-stack: 4 shots of 120 channels
    assert kinds["segyio_viking_small.segy"]["shape"] == [4, 120, 600]


def test_store_opens_with_plain_xarray(data_dir, tmp_path, client):
    z = tmp_path / "f3.zarr"
    convert.convert_segy(data_dir / "segysak_f3-withdead.sgy", z, client=client)
    ds = xr.open_zarr(z)
    assert ds["amplitude"].dims == ("inline", "crossline", "sample")
    assert ds["inline"].values[0] == 111 and ds["crossline"].values[-1] == 892
    assert ds["sample"].attrs["units"] == "ms"
    assert "cdp_x" in ds.coords and ds["trace_mask"].dtype == bool
    assert int(ds["trace_mask"].sum()) == 239
    with segyio.open(data_dir / "segysak_f3-withdead.sgy", ignore_geometry=True) as f:
        h = f.header[10]
        scal = h[segyio.su.scalco]
        x = h[segyio.su.cdpx] * (scal if scal > 0 else 1 / -scal if scal < 0 else 1)
        cell = ds.sel(inline=h[segyio.su.iline], crossline=h[segyio.su.xline])
        assert float(cell["cdp_x"]) == pytest.approx(x)
        assert np.array_equal(cell["amplitude"].values, f.trace[10])
    # the survey and its outputs only: what writing the file back takes lives in the subgroup file/
    assert set(ds.data_vars) == {"amplitude", "trace_mask"}
    assert {"raw_headers", "trace_order"} <= set(zarr.open_group(z, mode="r")["file"].array_keys())


def test_coordinates_carry_their_units_and_crs(tmp_path, client):
    """cdp_x/cdp_y in the binary header's measurement system (byte 3255: 1 metres) with the CRS an
    EPSG code in the textual header names; the sample axis says time or depth."""
    from seisbatch import segy_writer

    sgy = tmp_path / "s.sgy"
    synthetic.write_segy(sgy, synthetic.SurveySpec(n_inline=3, n_crossline=4, n_samples=20))
    raw = bytearray(sgy.read_bytes())
    raw[:3200] = segy_writer.file_header(20, 4000, "UTM ZONE 31N, EPSG:32631, COORDINATES IN METRES")[0]
    raw[3254:3256] = (1).to_bytes(2, "big")
    sgy.write_bytes(bytes(raw))
    z = tmp_path / "s.zarr"
    convert.convert_segy(sgy, z, client=client)
    ds = xr.open_zarr(z)
    assert ds["cdp_x"].attrs["units"] == "m" and ds["cdp_y"].attrs["crs"] == "EPSG:32631"
    assert ds["sample"].attrs == {"units": "ms", "long_name": "time"} and ds["inline"].attrs["long_name"] == "inline number"
    assert open(tmp_path / "s.zarr" / "file" / "raw_headers" / "zarr.json").read()  # not at the top
    export.export_segy(z, tmp_path / "b.sgy", client=client)
    assert (tmp_path / "b.sgy").read_bytes() == sgy.read_bytes()


def test_statistics_are_those_of_the_live_samples(data_dir, tmp_path, client):
    z = tmp_path / "s.zarr"
    s = convert.convert_segy(data_dir / "segysak_f3-withdead.sgy", z, client=client)["stats"]
    with segyio.open(data_dir / "segysak_f3-withdead.sgy", ignore_geometry=True) as f:
        v = np.concatenate([f.trace[i] for i in range(f.tracecount)]).astype(np.float64)
    assert s["count"] == v.size
    assert s["rms"] == pytest.approx(np.sqrt(np.mean(v**2)), rel=1e-6)  # float32 squares, added pairwise: ~1e-7
    assert s["mean"] == pytest.approx(v.mean(), rel=1e-9)  # the sum is float64
    assert s["min"] == v.min() and s["max"] == v.max()
    assert s["abs_p99"] == pytest.approx(np.percentile(np.abs(v), 99), rel=0.03)
    assert store.meta(zarr.open_group(z, mode="r"))["stats"]["rms"] == s["rms"]


def test_checksum_of_the_input_only_when_asked(data_dir, tmp_path, client):
    src = data_dir / "segysak_f3-withdead.sgy"
    convert.convert_segy(src, tmp_path / "plain.zarr", client=client)
    convert.convert_segy(src, tmp_path / "sum.zarr", client=client, checksum=True)
    plain = store.meta(zarr.open_group(tmp_path / "plain.zarr", mode="r"))["source"]
    summed = store.meta(zarr.open_group(tmp_path / "sum.zarr", mode="r"))["source"]
    assert "sha256" not in plain and plain["size"] == os.path.getsize(src)
    assert summed["sha256"] == sha256(src)


FORMATS = [1, 2, 3, 5, 6, 8, 9, 10, 11, 12, 16]


@pytest.mark.parametrize("endian", ["big", "little"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_generated_file_of_every_format_round_trips(fmt, endian, small_spec, tmp_path, client):
    src = tmp_path / "g.sgy"
    scale = 1.0 if fmt in (1, 5, 6) else 40.0
    synthetic.write_segy(src, small_spec, fmt=fmt, endian=endian, snr_db=10, scale=scale)
    z = tmp_path / "g.zarr"
    convert.convert_segy(src, z, client=client)
    with segyio.open(src, endian=endian) as f:
        ref = segyio.tools.cube(f).astype(np.float32)
    assert np.array_equal(zarr.open_array(z, path="amplitude", mode="r")[:], ref)
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(src, tmp_path / "back.sgy", shallow=False)


def test_values_that_float32_cannot_hold_are_kept_raw(small_spec, tmp_path, client):
    src = tmp_path / "big_ints.sgy"
    synthetic.write_segy(src, small_spec, fmt=2, scale=1000.0)
    raw = bytearray(src.read_bytes())
    pos = 3600 + 7 * (240 + 4 * small_spec.n_samples) + 240 + 12  # a sample of trace 7
    raw[pos : pos + 4] = (2**24 + 1).to_bytes(4, "big")  # the first integer float32 cannot hold
    src.write_bytes(bytes(raw))
    s = convert.convert_segy(src, tmp_path / "z.zarr", client=client)
    assert s["raw_traces"] == 1
    export.export_segy(tmp_path / "z.zarr", tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(src, tmp_path / "back.sgy", shallow=False)


def test_unnormalised_ibm_words_survive(small_spec, tmp_path, client):
    src = tmp_path / "ibm.sgy"
    synthetic.write_segy(src, small_spec, fmt=1)
    raw = bytearray(src.read_bytes())
    pos = 3600 + 5 * (240 + 4 * small_spec.n_samples) + 240 + 40  # a sample of trace 5
    raw[pos : pos + 4] = (0x42010000).to_bytes(4, "big")  # 1.0 written with a leading zero hex digit
    src.write_bytes(bytes(raw))
    s = convert.convert_segy(src, tmp_path / "z.zarr", client=client)
    assert s["raw_traces"] == 1
    export.export_segy(tmp_path / "z.zarr", tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(src, tmp_path / "back.sgy", shallow=False)


@pytest.mark.parametrize(
    "options",
    [
        {"sorting": "crossline"},
        {"missing": 0.3},
        {"line": True},
    ],
    ids=["crossline-sorted", "irregular", "2d-line"],
)
def test_generated_geometries(options, small_spec, tmp_path, client):
    src = tmp_path / "g.sgy"
    synthetic.write_segy(src, small_spec, fmt=5, **options)
    z = tmp_path / "g.zarr"
    s = convert.convert_segy(src, z, client=client, chunks=(4, 5, 32) if not options.get("line") else (5, 32))
    root = zarr.open_group(z, mode="r")
    il, xl = synthetic.trace_positions(small_spec, **options)
    truth = synthetic.clean_traces(small_spec, il, xl)
    if options.get("line"):
        assert s["geometry"] == "2d"
        assert np.array_equal(root["amplitude"][:], truth)
    else:
        assert s["geometry"] == "3d" and s["shape"][:2] == [small_spec.n_inline, small_spec.n_crossline]
        assert np.array_equal(root["amplitude"][:][il, xl], truth)
        assert root["trace_mask"][:].sum() == len(il)
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(src, tmp_path / "back.sgy", shallow=False)


def test_non_default_header_bytes_and_line_steps(small_spec, tmp_path, client):
    spec = synthetic.SurveySpec(n_inline=6, n_crossline=7, n_samples=40, inline_step=2, crossline_step=5)
    src = tmp_path / "g.sgy"
    synthetic.write_segy(src, spec)
    # Copy inline/crossline to bytes 9 and 17 (field record and energy source point) and zero 189/193.
    raw = bytearray(src.read_bytes())
    tb = 240 + 4 * spec.n_samples
    for t in range(spec.n_inline * spec.n_crossline):
        h = 3600 + t * tb
        raw[h + 8 : h + 12], raw[h + 16 : h + 20] = raw[h + 188 : h + 192], raw[h + 192 : h + 196]
        raw[h + 188 : h + 196] = bytes(8)
    src.write_bytes(bytes(raw))
    s = convert.convert_segy(src, tmp_path / "z.zarr", client=client, inline_byte=9, crossline_byte=17)
    assert s["geometry"] == "3d" and s["shape"] == [6, 7, 40]
    ds = xr.open_zarr(tmp_path / "z.zarr")
    assert ds["inline"].values.tolist() == list(range(100, 112, 2))
    assert ds["crossline"].values.tolist() == list(range(300, 335, 5))


def _amplitude_bytes(z) -> int:
    return sum(p.stat().st_size for p in (z / "amplitude" / "c").rglob("*") if p.is_file())


def test_compression_choices_keep_values_and_round_trip(data_dir, tmp_path, client):
    src = data_dir / "segysak_f3-withdead.sgy"
    with segyio.open(src, ignore_geometry=True) as f:
        ref = f.trace.raw[:]
    sizes = {}
    for choice in (None, "zstd", "none"):
        z = tmp_path / f"{choice}.zarr"
        convert.convert_segy(src, z, client=client, compression=choice)
        assert info.describe(str(z))["compression"] == (choice or "lz4")  # lz4 is the default
        root = zarr.open_group(z, mode="r")
        cells = np.unravel_index(root["file/trace_order"][:], root["trace_mask"].shape)
        assert np.array_equal(root["amplitude"][:][cells], ref)
        export.export_segy(z, tmp_path / f"{choice}.sgy", client=client)
        assert filecmp.cmp(src, tmp_path / f"{choice}.sgy", shallow=False)
        sizes[choice or "lz4"] = _amplitude_bytes(z)
    assert sizes["zstd"] < sizes["lz4"] < sizes["none"]
    with pytest.raises(SeisbatchError, match="unknown compression 'gzip'"):
        convert.convert_segy(src, tmp_path / "bad.zarr", client=client, compression="gzip")
    assert not (tmp_path / "bad.zarr").exists()  # refused before anything was written


def test_blocks_without_traces_write_no_amplitude_chunks(data_dir, tmp_path, client):
    src = data_dir / "segysak_f3-withdead.sgy"  # its lower-right corner holds no traces
    z = tmp_path / "s.zarr"
    convert.convert_segy(src, z, client=client, chunks=(4, 4, 75), compression="none")
    root = zarr.open_group(z, mode="r")
    mask = root["trace_mask"][:]
    blocks = {(i // 4, j // 4): mask[i:i + 4, j:j + 4].any() for i in range(0, mask.shape[0], 4)
              for j in range(0, mask.shape[1], 4)}
    assert 0 < sum(blocks.values()) < len(blocks)
    written = {tuple(int(v) for v in p.relative_to(z / "amplitude" / "c").parts[:2])
               for p in (z / "amplitude" / "c").rglob("*") if p.is_file()}
    assert written == {b for b, live in blocks.items() if live}
    assert not root["amplitude"][:][~mask].any()  # dead traces read as zeros all the same
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert filecmp.cmp(src, tmp_path / "back.sgy", shallow=False)


def test_plan_scan_pieces_tile_the_file_once_and_share_it_among_workers():
    mib = 2**20
    # 500 MB of 12 kB traces on 2 workers: one piece each; on 64 workers: pieces of 32 MiB at least
    for n, tb, workers, piece_mb, expect in [(40804, 12240, 2, 256, 2), (40804, 12240, 64, 256, 15),
                                               (40804, 12240, 1, 256, 2), (300, 12240, 8, 256, 1), (7, 100, 4, 1e-4, 7)]:
        pieces = segy_source.plan_scan(n, tb, workers, piece_mb)
        assert len(pieces) == expect, (n, tb, workers, piece_mb, pieces)
        assert pieces[0][0] == 0 and pieces[-1][1] == n and all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))
        assert all((b - a) * tb <= max(piece_mb * mib, tb) for a, b in pieces)
    assert segy_source.plan_scan(0, 100, 2, 256) == [(0, 0)]


@pytest.mark.parametrize("name", ["segysak_f3-withdead.sgy", "gundih_2D_Xline_12680.sgy"])
def test_header_scan_shared_by_workers_gives_the_same_store(name, data_dir, tmp_path, client):
    """Pieces of a few traces, read by the workers, give the store a client scan gives: the same
    geometry, headers and a byte-exact export; the scan's progress reaches its total."""
    import dask.config

    from seisbatch import segy_reader

    src = str(data_dir / name)
    lay = segy_reader.scan(src, None)
    piece_mb = 20 * lay.trace_bytes / 2**20  # 20 traces a piece
    pieces = segy_source.plan_scan(lay.n_traces, lay.trace_bytes, 2, piece_mb)
    seen = []
    with dask.config.set({"seisbatch.convert.scan-piece-mb": piece_mb}):
        convert.convert_segy(src, tmp_path / "p.zarr", client=client, scan_progress=lambda d, t: seen.append((d, t)))
    convert.convert_segy(src, tmp_path / "c.zarr", client=client)
    assert len(pieces) > 10 and seen[-1] == (len(pieces), len(pieces))
    a, b = zarr.open_group(tmp_path / "p.zarr", mode="r"), zarr.open_group(tmp_path / "c.zarr", mode="r")
    for name_ in ("file/raw_headers", "trace_mask", "file/trace_order", "cdp_x"):
        np.testing.assert_array_equal(a[name_][:], b[name_][:], err_msg=name_)
    assert store.meta(a)["geometry"] == store.meta(b)["geometry"]
    export.export_segy(tmp_path / "p.zarr", tmp_path / "p.sgy", client=client)
    assert filecmp.cmp(tmp_path / "p.sgy", src, shallow=False)



@pytest.mark.parametrize("option, message", [
    (["--chunks", "0,4,4"], "--chunks sizes must be positive"),
    (["--inline-byte", "300"], "--inline-byte must lie in 1..237, not 300"),
    (["--sample-interval", "0"], "--sample-interval must be positive"),
])
def test_bad_convert_options_fail_in_one_line_before_any_cluster_starts(tmp_path, capsys, monkeypatch, option, message):
    from seisbatch import engine
    from seisbatch.cli import main

    def no_cluster(**kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(engine, "dask_client", no_cluster)
    sgy = tmp_path / "s.sgy"
    synthetic.write_segy(sgy, synthetic.SurveySpec(n_inline=3, n_crossline=4, n_samples=20))
    assert main(["convert", str(sgy), str(tmp_path / "s.zarr"), *option]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "s.zarr").exists()


def test_a_format_1_store_with_its_bookkeeping_at_the_top_still_exports_byte_for_byte(data_dir, tmp_path, client):
    """Stores of format 1 kept raw headers, raw samples and trace order at the top level."""
    import shutil

    src = data_dir / "formats" / "Format1msb.sgy"  # IBM floats: raw samples kept for a few traces too
    z = tmp_path / "old.zarr"
    convert.convert_segy(src, z, client=client)
    for name in os.listdir(z / "file"):
        if name != "zarr.json":
            shutil.move(str(z / "file" / name), str(z / name))
    shutil.rmtree(z / "file")
    store.consolidate(str(z))
    root = zarr.open_group(z, mode="r")
    assert "file" not in root and store.find_internal(root, "raw_headers") == "raw_headers"
    export.export_segy(z, tmp_path / "back.sgy", client=client)
    assert (tmp_path / "back.sgy").read_bytes() == src.read_bytes()
