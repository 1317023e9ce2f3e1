"""Bad input: one clear message naming the file, exit code 2, no output that looks complete, and
the input never modified."""

import os

import h5py
import numpy as np
import pytest
import zarr

from conftest import sha256
from seisbatch import cli, convert, export, store, synthetic
from seisbatch.errors import SeisbatchError


def run_cli(capsys, *argv):
    code = cli.main(list(argv))
    return code, capsys.readouterr().err


@pytest.fixture
def good(small_spec, tmp_path):
    path = tmp_path / "good.sgy"
    synthetic.write_segy(path, small_spec)
    return path


def convert_fails(capsys, src, tmp_path, *extra, match):
    before = sha256(src) if os.path.isfile(src) else None
    out = tmp_path / "out.zarr"
    code, err = run_cli(capsys, "convert", str(src), str(out), "--workers", "1", "--quiet", *extra)
    assert code == 2
    assert str(src) in err and match in err, err
    assert err.count("\n") == 1  # one line, no traceback
    if before:
        assert sha256(src) == before
    if out.exists():  # whatever exists must not pass for a finished store
        with pytest.raises(SeisbatchError, match="incomplete"):
            store.open_complete(str(out))


def test_not_a_segy_file(capsys, tmp_path):
    bad = tmp_path / "notes.txt"
    bad.write_text("just some text, not seismic\n" * 200)
    convert_fails(capsys, bad, tmp_path, match="not a SEG-Y file (a text file)")


def test_too_short_to_be_segy(capsys, tmp_path):
    bad = tmp_path / "tiny.sgy"
    bad.write_bytes(b"x" * 100)
    convert_fails(capsys, bad, tmp_path, match="not a SEG-Y file")


def test_truncated_file(capsys, good, tmp_path):
    data = good.read_bytes()
    cut = tmp_path / "cut.sgy"
    cut.write_bytes(data[: len(data) - 1000])
    convert_fails(capsys, cut, tmp_path, match="truncated")


def test_trace_count_inconsistent_with_file_size(capsys, good, tmp_path):
    longer = tmp_path / "longer.sgy"
    longer.write_bytes(good.read_bytes() + b"\0" * 17)
    convert_fails(capsys, longer, tmp_path, match="trace count inconsistent with the file size")


def test_unknown_format_code(capsys, good, tmp_path):
    data = bytearray(good.read_bytes())
    data[3224:3226] = (99).to_bytes(2, "big")
    bad = tmp_path / "fmt99.sgy"
    bad.write_bytes(bytes(data))
    convert_fails(capsys, bad, tmp_path, match="unknown sample format code 99")


def test_duplicate_inline_crossline_pairs(capsys, good, tmp_path):
    data = bytearray(good.read_bytes())
    tb = (len(data) - 3600) // 143
    first = data[3600 + 188 : 3600 + 196]
    data[3600 + tb + 188 : 3600 + tb + 196] = first  # trace 1 claims trace 0's bin
    bad = tmp_path / "dup.sgy"
    bad.write_bytes(bytes(data))
    convert_fails(capsys, bad, tmp_path, "--geometry", "3d", match="duplicate inline/crossline pairs")


def test_missing_file(capsys, tmp_path):
    convert_fails(capsys, tmp_path / "nope.sgy", tmp_path, match="no such file")


def test_missing_hdf5_dataset(capsys, tmp_path):
    h5 = tmp_path / "vol.h5"
    with h5py.File(h5, "w") as f:
        f["seismic"] = np.zeros((4, 5, 6), np.float32)
    convert_fails(capsys, h5, tmp_path, "--dataset", "amplitude", match="no dataset 'amplitude'")


def test_output_exists_without_overwrite(capsys, good, tmp_path):
    out = tmp_path / "out.zarr"
    code, _ = run_cli(capsys, "convert", str(good), str(out), "--workers", "1", "--quiet")
    assert code == 0
    marker = out / "amplitude" / "left-by-the-first-run"
    marker.write_text("x")
    code, err = run_cli(capsys, "convert", str(good), str(out), "--workers", "1", "--quiet")
    assert code == 2 and "output exists" in err and str(out) in err and marker.exists()
    code, _ = run_cli(capsys, "convert", str(good), str(out), "--workers", "1", "--quiet", "--overwrite")
    assert code == 0 and not marker.exists()  # the store was replaced
    store.open_complete(str(out))


def test_overwrite_never_removes_what_is_not_the_output_kind(capsys, good, tmp_path):
    folder = tmp_path / "mine"  # a mistyped output path: a folder of the user's that is no store
    folder.mkdir()
    (folder / "keep.txt").write_text("mine")
    code, err = run_cli(capsys, "convert", str(good), str(folder), "--workers", "1", "--quiet", "--overwrite")
    assert code == 2 and str(folder) in err and "not a Zarr store" in err and err.count("\n") == 1, err
    assert (folder / "keep.txt").read_text() == "mine" and sorted(os.listdir(folder)) == ["keep.txt"]
    other = tmp_path / "other.sgy"  # a file where a store would go
    other.write_bytes(b"another survey")
    code, err = run_cli(capsys, "convert", str(good), str(other), "--workers", "1", "--quiet", "--overwrite")
    assert code == 2 and "is a file, not a Zarr store" in err and other.read_bytes() == b"another survey"
    empty = tmp_path / "empty.zarr"  # an empty folder holds nothing to lose
    empty.mkdir()
    code, _ = run_cli(capsys, "convert", str(good), str(empty), "--workers", "1", "--quiet", "--overwrite")
    assert code == 0
    store.open_complete(str(empty))
    code, err = run_cli(capsys, "export", str(empty), str(folder), "--workers", "1", "--quiet", "--overwrite")
    assert code == 2 and "is a directory" in err and (folder / "keep.txt").read_text() == "mine"
    code, err = run_cli(capsys, "synth", str(folder), "--overwrite")
    assert code == 2 and "is a directory" in err and (folder / "keep.txt").read_text() == "mine"


def test_a_failed_overwrite_leaves_the_old_file_whole(capsys, good, tmp_path, monkeypatch):
    z = tmp_path / "s.zarr"
    out = tmp_path / "out.sgy"
    assert run_cli(capsys, "convert", str(good), str(z), "--workers", "1", "--quiet")[0] == 0
    out.write_bytes(b"the previous export")

    def dies(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export.engine, "run_tasks", dies)
    code, err = run_cli(capsys, "export", str(z), str(out), "--workers", "1", "--quiet", "--overwrite")
    assert code == 2 and "No space left" in err
    assert out.read_bytes() == b"the previous export" and not os.path.exists(str(out) + ".partial")


def test_export_refuses_existing_output_and_incomplete_store(capsys, good, tmp_path, client):
    z = tmp_path / "s.zarr"
    convert.convert_segy(good, z, client=client)
    target = tmp_path / "exists.sgy"
    target.write_bytes(b"precious")
    code, err = run_cli(capsys, "export", str(z), str(target), "--workers", "1", "--quiet")
    assert code == 2 and "output exists" in err and target.read_bytes() == b"precious"
    store.update_meta(str(z), state="converting")
    code, err = run_cli(capsys, "export", str(z), str(tmp_path / "new.sgy"), "--workers", "1", "--quiet")
    assert code == 2 and "incomplete" in err and not (tmp_path / "new.sgy").exists()


def test_export_needs_a_local_file_in_an_existing_folder(capsys, good, tmp_path, client):
    z = tmp_path / "s.zarr"
    convert.convert_segy(good, z, client=client)
    for out, match in (("s3://bucket/out.sgy", "give a local path"),
                       (str(tmp_path / "no" / "such" / "out.sgy"), f"no such directory {tmp_path / 'no' / 'such'}")):
        code, err = run_cli(capsys, "export", str(z), out, "--workers", "1", "--quiet")
        assert code == 2 and out in err and match in err and err.count("\n") == 1, err
    assert not (tmp_path / "no").exists()


def test_missing_object_storage_credentials_are_one_clear_line(tmp_path):
    """s3fs raises botocore's NoCredentialsError unwrapped: it ends in one line, not a traceback."""
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
               AWS_CONFIG_FILE=str(tmp_path / "none"))
    r = subprocess.run([sys.executable, "-m", "seisbatch", "info", "s3://bucket/survey.zarr"], env=env,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "s3://bucket/survey.zarr: no credentials for object storage" in r.stderr and "AWS_ACCESS_KEY_ID" in r.stderr
    assert "Traceback" not in r.stderr and r.stderr.count("\n") == 1


def test_failed_conversion_leaves_a_store_marked_incomplete(good, tmp_path, monkeypatch):
    """A task that dies midway (threads, so the patch reaches the worker) leaves state 'converting'."""
    from seisbatch import engine
    from seisbatch.sources import segy as segy_source

    real = segy_source.segy_block_task

    def flaky(layout, path, index, block, *rest):
        if block[0].start == 4:  # this block fails on every try, retries included
            raise OSError("disk went away")
        return real(layout, path, index, block, *rest)

    monkeypatch.setattr(segy_source, "segy_block_task", flaky)
    out = tmp_path / "half.zarr"
    with engine.dask_client(workers=1, processes=False) as c:
        with pytest.raises(OSError, match="disk went away"):
            convert.convert_segy(good, out, client=c, chunks=(4, 4, 97))
    assert zarr.open_group(out, mode="r").attrs["seisbatch"]["state"] == "converting"
    with pytest.raises(SeisbatchError, match="incomplete"):
        store.open_complete(str(out))
    with pytest.raises(SeisbatchError, match="incomplete"):
        export.export_segy(out, tmp_path / "x.sgy", client=None, workers=1)
    # the same command again (the fault gone) converts only the missing blocks and equals a fresh run
    log = tmp_path / "ran.txt"  # tasks are pickled by value: count in a file, not a list

    def counting(layout, path, index, block, *rest):
        with open(log, "a") as fh:
            fh.write(f"{index}\n")
        return real(layout, path, index, block, *rest)

    missing = [i for i, r in enumerate(store.read_blocks(str(out), store.CONVERSION)) if r is None]
    monkeypatch.setattr(segy_source, "segy_block_task", counting)
    with engine.dask_client(workers=1, processes=False) as c:
        convert.convert_segy(good, out, client=c, chunks=(4, 4, 97))
        assert sorted(int(v) for v in log.read_text().split()) == missing  # only the missing blocks
        convert.convert_segy(good, tmp_path / "fresh.zarr", client=c, chunks=(4, 4, 97))
    assert 0 < len(missing) < len(log.read_text().split()) - len(missing)
    a, b = zarr.open_group(out, mode="r"), zarr.open_group(tmp_path / "fresh.zarr", mode="r")
    for name in ("amplitude", "file/raw_headers", "trace_mask"):
        np.testing.assert_array_equal(a[name][:], b[name][:])
    assert a.attrs["seisbatch"]["stats"] == b.attrs["seisbatch"]["stats"]  # statistics over every block
    assert store.GROUP not in a  # the resume log goes with completion
    export.export_segy(out, tmp_path / "x.sgy", client=None, workers=1)
    assert open(tmp_path / "x.sgy", "rb").read() == open(good, "rb").read()


def test_export_to_the_input_path_is_refused(good, tmp_path, client):
    z = tmp_path / "s.zarr"
    convert.convert_segy(good, z, client=client)
    with pytest.raises(SeisbatchError, match="same path as the input"):
        export.export_segy(z, z, client=client, overwrite=True)
    assert store.open_complete(str(z))


@pytest.mark.parametrize("kind", ["mdio", "plain"])
def test_a_zarr_store_not_made_by_seisbatch_is_refused_untouched(kind, capsys, tmp_path):
    """An MDIO v1 store (or any Zarr with an 'amplitude' array) is not mistaken for a seisbatch store."""
    path = tmp_path / f"{kind}.zarr"
    root = zarr.open_group(path, mode="w", zarr_format=3)
    if kind == "mdio":
        root.attrs.update({"apiVersion": "1.1.3", "name": "PostStack3DTime"})  # as MDIO 1.1.3 writes it
    root.create_array("amplitude", shape=(4, 5, 60), chunks=(4, 5, 60), dtype="float32",
                      dimension_names=["inline", "crossline", "time"])[:] = 1.0
    root.create_array("trace_mask", shape=(4, 5), dtype="bool", dimension_names=["inline", "crossline"])[:] = True
    root.create_array("time", shape=(60,), dtype="int32", dimension_names=["time"])[:] = np.arange(60) * 4
    before = sorted(p.relative_to(path).as_posix() for p in path.rglob("*"))
    commands = [["export", str(path), str(tmp_path / "x.sgy"), "--workers", "1", "--quiet"],
                ["denoise", str(path), "--workers", "1", "--quiet"], ["qc", str(path), "--out", str(tmp_path / "qc.png")]]
    if kind == "mdio":  # info describes an MDIO store (what convert would take from it)
        assert cli.main(["info", str(path)]) == 0 and "MDIO 1.1.3" in capsys.readouterr().out
    else:
        commands.append(["info", str(path)])
    for argv in commands:
        code, err = run_cli(capsys, *argv)
        assert code == 2 and str(path) in err and "not a seisbatch store" in err, (argv, err)
        assert err.count("\n") == 1  # one line, no traceback
        assert ("MDIO 1.1.3" in err) == (kind == "mdio")
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*")) == before
    assert not (tmp_path / "x.sgy").exists() and not (tmp_path / "qc.png").exists()
