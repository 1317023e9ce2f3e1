"""The Zarr codec pipeline (setting ``seisbatch.codec-pipeline``): zarrs by default where it is
installed, zarr-python's own on request; the stores they write are the same, and either reads
the other's."""

from __future__ import annotations

import filecmp
import os
import subprocess
import sys
import warnings

import dask.config
import numpy as np
import pytest
import zarr

from seisbatch import convert, engine, export, store
from seisbatch.errors import SeisbatchError, as_os_error

ARRAYS = ("amplitude", "file/raw_headers", "trace_mask", "file/trace_order", "inline", "crossline", "sample", "cdp_x", "cdp_y")


def _worker_pipeline() -> str:
    return zarr.config.get("codec_pipeline.path")


@pytest.fixture
def zarr_python_pipeline():
    """This process on zarr-python's pipeline for the test, put back as it was afterwards."""
    before = zarr.config.get("codec_pipeline.path")
    with dask.config.set({"seisbatch.codec-pipeline": "zarr"}):
        yield
    zarr.config.set({"codec_pipeline.path": before})


def test_auto_is_zarrs_where_installed_and_the_workers_use_it(data_dir, tmp_path, client):
    assert store.use_codec_pipeline("auto") == "zarrs"  # a dependency of seisbatch
    convert.convert_segy(data_dir / "segyio_f3.sgy", tmp_path / "a.zarr", client=client)
    assert set(client.run(_worker_pipeline).values()) == {store.PIPELINES["zarrs"]}


def test_both_pipelines_write_the_same_store_and_read_each_others(data_dir, tmp_path, client, zarr_python_pipeline):
    src = data_dir / "segysak_f3-withdead.sgy"  # dead traces: blocks without traces, fill values
    with engine.dask_client(workers=1) as plain:  # started under the setting, which its worker inherits
        convert.convert_segy(src, tmp_path / "zarr.zarr", client=plain, chunks=(4, 4, 50))
        assert set(plain.run(_worker_pipeline).values()) == {store.PIPELINES["zarr"]}
    convert.convert_segy(src, tmp_path / "zarrs.zarr", client=client, chunks=(4, 4, 50))  # the session's workers: zarrs
    assert store.use_codec_pipeline() == "zarr"  # this process reads with zarr-python's
    a, b = zarr.open_group(tmp_path / "zarr.zarr", mode="r"), zarr.open_group(tmp_path / "zarrs.zarr", mode="r")
    for name in ARRAYS:
        assert np.array_equal(a[name][:], b[name][:], equal_nan=a[name].dtype.kind == "f"), name
    chunks = sorted(p.relative_to(tmp_path / "zarr.zarr") for p in (tmp_path / "zarr.zarr" / "amplitude").rglob("*")
                    if p.is_file())
    assert chunks == sorted(p.relative_to(tmp_path / "zarrs.zarr")
                            for p in (tmp_path / "zarrs.zarr" / "amplitude").rglob("*") if p.is_file())
    for name in ("zarr", "zarrs"):  # each store back to the file, written by the workers (zarrs)
        export.export_segy(tmp_path / f"{name}.zarr", tmp_path / f"{name}.sgy", client=client)
        assert filecmp.cmp(src, tmp_path / f"{name}.sgy", shallow=False)


def test_an_unknown_or_missing_pipeline_is_refused_by_name(zarr_python_pipeline, monkeypatch):
    with pytest.raises(SeisbatchError, match="unknown codec pipeline 'fast'"):
        store.use_codec_pipeline("fast")
    monkeypatch.setattr(store.codecs.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(SeisbatchError, match="zarrs package is not installed"):
        store.use_codec_pipeline("zarrs")
    assert store.use_codec_pipeline("auto") == "zarr"  # auto falls back to zarr-python's own


def test_a_pipeline_set_through_zarrs_own_config_is_kept_under_auto(zarr_python_pipeline):
    zarr.config.set({"codec_pipeline.path": "my.Pipeline"})
    assert store.use_codec_pipeline("auto") == "my.Pipeline"
    assert zarr.config.get("codec_pipeline.path") == "my.Pipeline"


def test_rust_io_errors_are_os_errors():
    exc = as_os_error(RuntimeError("No space left on device (os error 28)"))
    assert isinstance(exc, OSError) and exc.errno == 28 and exc.strerror == os.strerror(28)
    assert as_os_error(RuntimeError("shape mismatch")) is None
    assert as_os_error(ValueError("(os error 28)")) is None
    plain = FileNotFoundError(2, "gone", "x.zarr")
    assert as_os_error(plain) is plain


def test_reading_an_mdio_store_through_zarrs_warns_of_nothing(data_dir):
    from seisbatch import mdio_source

    store.use_codec_pipeline("zarrs")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        store.quiet_foreign_dtypes()  # as on import (pytest resets the filters around each test)
        vol = mdio_source.open_volume(str(data_dir / "mdio" / "f3_full.mdio"))
        assert mdio_source.has_headers(vol)
        headers = mdio_source.read_headers(vol, (slice(0, 2), slice(0, 2)), "big")
    assert headers.shape == (2, 2, 240) and headers.any()
    assert [str(w.message) for w in seen] == []


@pytest.mark.parametrize("setting, shown", [(None, "zarrs"), ("zarr", "zarr"), ("fast", None)])
def test_config_says_which_pipeline_is_in_use(setting, shown):
    env = dict(os.environ)
    env.pop("DASK_SEISBATCH__CODEC_PIPELINE", None)
    env.pop("ZARR_CODEC_PIPELINE__PATH", None)  # a pipeline set through zarr's own config would be kept
    if setting:
        env["DASK_SEISBATCH__CODEC_PIPELINE"] = setting
    res = subprocess.run([sys.executable, "-m", "seisbatch", "config"], env=env, capture_output=True, text=True)
    if shown is None:
        assert res.returncode == 2 and "unknown codec pipeline 'fast'" in res.stderr
    else:
        assert res.returncode == 0 and f"# Zarr codec pipeline in use: {shown}\n" in res.stdout
