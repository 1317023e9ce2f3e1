"""HDF5 input: 2D and 3D datasets in any axis order, the patch layout recognised, and export."""

import h5py
import numpy as np
import pytest
import segyio
import xarray as xr

from seisbatch import convert, export, info
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError


@pytest.fixture
def cube():
    return np.random.default_rng(0).normal(size=(7, 9, 33)).astype(np.float32)


def test_3d_dataset_in_another_axis_order(cube, tmp_path, client):
    h5 = tmp_path / "vol.h5"
    with h5py.File(h5, "w") as f:
        f["grp/data"] = np.transpose(cube, (2, 1, 0))  # stored as sample, crossline, inline
    z = tmp_path / "v.zarr"
    s = convert.convert_hdf5(h5, z, dataset="/grp/data", axes="sample,crossline,inline", sample_interval=2.0,
                             client=client, chunks=(3, 4, 16))
    assert s["shape"] == [7, 9, 33]
    ds = xr.open_zarr(z)
    assert np.array_equal(ds["amplitude"].values, cube)
    assert ds["sample"].values[1] == 2.0
    assert s["stats"]["rms"] == pytest.approx(np.sqrt(np.mean(cube.astype(np.float64) ** 2)))


def test_2d_dataset_and_dead_traces(tmp_path, client):
    line = np.random.default_rng(1).normal(size=(40, 25)).astype(np.float32)
    line[5] = 0
    h5 = tmp_path / "line.h5"
    with h5py.File(h5, "w") as f:
        f["line"] = line
    z = tmp_path / "l.zarr"
    convert.convert_hdf5(h5, z, client=client)
    ds = xr.open_zarr(z)
    assert ds["amplitude"].dims == ("trace", "sample")
    assert np.array_equal(ds["amplitude"].values, line)
    assert not bool(ds["trace_mask"][5]) and int(ds["trace_mask"].sum()) == 39


@pytest.mark.parametrize("chunks", [None, (3, 4, 16)], ids=["one-block", "blocks"])
def test_export_of_an_hdf5_store_is_readable_segy(cube, chunks, tmp_path, client):
    h5 = tmp_path / "vol.h5"
    with h5py.File(h5, "w") as f:
        f["v"] = cube
    z = tmp_path / "v.zarr"
    convert.convert_hdf5(h5, z, client=client, chunks=chunks)
    out = tmp_path / "v.sgy"
    export.export_segy(z, out, client=client)
    with segyio.open(out) as f:
        assert np.array_equal(segyio.tools.cube(f), cube)
        assert f.bin[segyio.BinField.Interval] == 4000
        n = cube.shape[0] * cube.shape[1]
        assert np.array_equal(f.attributes(segyio.TraceField.TRACE_SEQUENCE_LINE)[:], np.arange(1, n + 1))
        il = f.attributes(segyio.TraceField.INLINE_3D)[:]
        xl = f.attributes(segyio.TraceField.CROSSLINE_3D)[:]
        assert np.array_equal(il, np.repeat(np.arange(cube.shape[0]), cube.shape[1]))
        assert np.array_equal(xl, np.tile(np.arange(cube.shape[1]), cube.shape[0]))


def test_patch_layout_is_recognised_not_converted(tmp_path):
    h5 = tmp_path / "noise_dataset.h5"
    with h5py.File(h5, "w") as f:
        f["X"] = np.zeros((20, 64, 64, 1), np.float32)
        f["Y"] = np.zeros((20, 64, 64, 1), np.float32)
    with pytest.raises(SeisbatchError, match="training patches"):
        convert.convert_hdf5(h5, tmp_path / "p.zarr")
    d = info.describe(str(h5))
    assert d["patches"]["X"] == {"count": 20, "size": [64, 64]}
    assert not (tmp_path / "p.zarr").exists()


def test_bad_axes_and_shapes(tmp_path):
    h5 = tmp_path / "v.h5"
    with h5py.File(h5, "w") as f:
        f["v"] = np.zeros((3, 4, 5), np.float32)
        f["flat"] = np.zeros(10, np.float32)
    with pytest.raises(SeisbatchError, match="--axes must order"):
        convert.convert_hdf5(h5, tmp_path / "a.zarr", dataset="v", axes="x,y,z")
    with pytest.raises(SeisbatchError, match="2 or 3 dimensions"):
        convert.convert_hdf5(h5, tmp_path / "b.zarr", dataset="flat")


def test_empty_or_non_numeric_datasets_are_refused_and_described(tmp_path, capsys):
    h5 = tmp_path / "mixed.h5"
    with h5py.File(h5, "w") as f:
        f["amp"] = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
        f.create_dataset("empty", shape=(0, 4, 5), dtype="f4")
        f["labels"] = np.array([[b"a", b"b"], [b"c", b"d"]])
        f["phase"] = np.ones((3, 4, 5), complex)
        f["flags"] = np.ones((3, 4), bool)
    for name, why in (("empty", "is empty"), ("labels", "holds |S1, not real numbers"),
                      ("phase", "holds complex128"), ("flags", "holds bool")):
        with pytest.raises(SeisbatchError, match=why):
            convert.convert_hdf5(h5, tmp_path / f"{name}.zarr", dataset=name)
        assert not (tmp_path / f"{name}.zarr").exists()
    # without --dataset, the one dataset that can be a survey is taken
    r = convert.convert_hdf5(h5, tmp_path / "amp.zarr")
    assert r["shape"] == [3, 4, 5] and r["stats"]["max"] == 59
    assert main(["info", str(h5)]) == 0  # once failed on the empty dataset (a reduction over nothing)
    out = capsys.readouterr().out
    assert "dataset /amp: shape (3, 4, 5) int16  min 0  max 59" in out
    assert "dataset /empty: shape (0, 4, 5) float32\n" in out
