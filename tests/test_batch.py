"""Several inputs in one `convert` or `export` command (the lines of a 2D survey): one output each
in a directory, a bad file reported without stopping the others, a rerun that finishes the job,
and nothing started when the outputs would collide."""

import os
import shutil

import h5py
import numpy as np
import zarr

from conftest import sha256
from seisbatch import convert
from seisbatch.cli import main


def test_convert_several_inputs_into_a_directory_then_finish_with_a_rerun(data_dir, tmp_path, client, capsys):
    h5 = tmp_path / "cube.h5"
    with h5py.File(h5, "w") as f:
        f["seismic"] = np.random.default_rng(0).normal(size=(6, 5, 40)).astype(np.float32)
    junk = tmp_path / "junk.sgy"
    junk.write_bytes(b"not a seg-y file at all" * 200)
    f3, dead = str(data_dir / "segyio_f3.sgy"), str(data_dir / "segysak_f3-withdead.sgy")
    out = tmp_path / "stores"
    cluster = ["--quiet", "--scheduler", client.scheduler.address]
    assert main(["convert", f3, str(junk), dead, str(h5), str(out), *cluster]) == 2  # junk fails, the others go on
    cap = capsys.readouterr()
    assert str(junk) in cap.err and cap.err.count("\n") == 1, cap.err
    assert f"4 inputs: 3 converted, 0 already converted, 1 failed ({junk})" in cap.out
    assert sorted(os.listdir(out)) == ["cube.zarr", "segyio_f3.zarr", "segysak_f3-withdead.zarr"]
    alone = tmp_path / "alone.zarr"  # each store is what a conversion of its file alone makes
    convert.convert_segy(dead, alone, client=client)
    for name in ("amplitude", "file/raw_headers", "trace_mask"):
        np.testing.assert_array_equal(zarr.open_group(out / "segysak_f3-withdead.zarr", mode="r")[name][...],
                                      zarr.open_group(alone, mode="r")[name][...])
    before = sha256(out / "segyio_f3.zarr" / "zarr.json")
    assert main(["convert", f3, dead, str(h5), str(out), *cluster]) == 0  # the rerun skips what is done
    assert "3 inputs: 0 converted, 3 already converted, 0 failed" in capsys.readouterr().out
    assert sha256(out / "segyio_f3.zarr" / "zarr.json") == before
    shutil.rmtree(out / "cube.zarr")
    assert main(["convert", f3, dead, str(h5), str(out), *cluster]) == 0  # a missing store is converted again
    assert "3 inputs: 1 converted, 2 already converted, 0 failed" in capsys.readouterr().out


def test_outputs_that_would_collide_or_a_file_for_the_directory_start_nothing(data_dir, tmp_path, capsys):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    for d in (a, b):
        shutil.copy(data_dir / "segyio_f3.sgy", d / "line.sgy")
    out = tmp_path / "stores"
    assert main(["convert", str(a / "line.sgy"), str(b / "line.sgy"), str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert str(b / "line.sgy") in err and "same name" in err and not out.exists()
    afile = tmp_path / "afile"
    afile.write_bytes(b"mine")
    assert main(["convert", str(a / "line.sgy"), str(data_dir / "segyio_f3-lsb.sgy"), str(afile), "--quiet"]) == 2
    assert "is a directory for their outputs" in capsys.readouterr().err and afile.read_bytes() == b"mine"
    assert main(["convert", str(a / "line.sgy"), str(tmp_path / "nope.sgy"), str(out), "--quiet"]) == 2
    assert "nope.sgy: no such file" in capsys.readouterr().err and not out.exists()


def test_export_several_stores_each_checked_before_any_is_written(data_dir, tmp_path, client, capsys):
    names = ("segyio_f3", "segyio_viking_small")
    stores = []
    for name, ext in zip(names, (".sgy", ".segy")):
        stores.append(str(tmp_path / f"{name}.zarr"))
        convert.convert_segy(str(data_dir / (name + ext)), stores[-1], client=client)
    out = tmp_path / "segy"
    cluster = ["--quiet", "--scheduler", client.scheduler.address]
    assert main(["export", *stores, str(out), "--array", "denoised", *cluster]) == 2  # no store has it
    assert "no array 'denoised'" in capsys.readouterr().err and os.listdir(out) == []
    assert main(["export", *stores, str(out), *cluster]) == 0
    for name, ext in zip(names, (".sgy", ".segy")):
        assert sha256(out / f"{name}_amplitude.sgy") == sha256(data_dir / (name + ext))  # byte for byte
    assert main(["export", *stores, str(out), *cluster]) == 2  # the files exist: refused before any work
    assert "output exists" in capsys.readouterr().err
