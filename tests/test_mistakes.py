"""The mistakes a new user makes, each one line on stderr and exit code 2, before any cluster
starts, leaving nothing behind and every input as it was: one parametrised test.

(A closed pipe, `seisbatch info X | head -1`, is in test_cli_info; Ctrl-C, which needs a real
terminal's process group, in test_reliability.)"""

from __future__ import annotations

import hashlib
import pathlib
import shutil
import time

import pytest

from conftest import small_model
from seisbatch import engine
from seisbatch.cli import main

DATA = pathlib.Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> pathlib.Path:
    """A working folder as a user has it: a SEG-Y file, its store, a model, a picture."""
    d = tmp_path_factory.mktemp("user")
    shutil.copy(DATA / "segyio_f3.sgy", d / "survey.sgy")
    assert main(["convert", str(d / "survey.sgy"), str(d / "survey.zarr"), "--workers", "1", "--quiet"]) == 0
    small_model(d / "m.keras", seed=1, depth=3, filters=4)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.plot([0, 1])
    plt.savefig(d / "pic.png")
    plt.close()
    return d


def _tree(d: pathlib.Path) -> dict[str, str]:
    return {p.relative_to(d).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "folder"
            for p in sorted(d.rglob("*"))}


DENOISE = ["denoise", "survey.zarr", "--model", "m.keras", "--quiet"]

MISTAKES = [
    (DENOISE + ["--workers", "-1"], "--workers: workers must be at least 1, not -1"),  # it hung
    (DENOISE + ["--workers", "0"], "--workers: workers must be at least 1, not 0"),  # it meant the default
    (DENOISE + ["--batch-size", "0"], "batch size must be at least 1, not 0"),  # a worker's traceback, an incomplete array
    (DENOISE + ["--tile", "0,0"], "tile must be two positive sizes TRACES,SAMPLES, not 0,0"),
    (DENOISE + ["--halo", "-5"], "halo must not be negative, not -5"),
    (DENOISE + ["--tile", "8,x"], "--tile '8,x': expected TRACES or TRACES,SAMPLES"),
    (DENOISE + ["--method", "fx", "--fx-filter", "0"], "filter"),
    (DENOISE + ["--domain", "offset"], "--domain is for pre-stack gathers"),
    (["export", "survey.zarr", "out.sgy", "--array", "trace_mask"], "array 'trace_mask' is not samples shaped like the "
     "amplitude, so it cannot be a SEG-Y file (exportable: amplitude)"),  # a reshape traceback
    (["export", "survey.zarr", "out.sgy", "--array", "raw_headers"], "(exportable: amplitude)"),
    (["export", "survey.zarr", "out.sgy", "--array", "cdp_x"], "(exportable: amplitude)"),
    (["export", "survey.zarr", "out.sgy", "--array", "sample"], "(exportable: amplitude)"),  # it left out.sgy.partial
    (["info", "pic.png"], "pic.png: not a SEG-Y file (a PNG image), nor HDF5, a Zarr store or an MDIO store"),
    (["convert", "pic.png", "pic.zarr"], "pic.png: not a SEG-Y file (a PNG image)"),  # "unknown sample format code"
    (["denoise", "survey.sgy"], "survey.sgy: a file, not a seisbatch store: convert it first, e.g. `seisbatch convert "
     "survey.sgy survey.zarr`"),  # it said "no such store"
    (["convert", "survey.sgy", "nodir/x.zarr"], "the folder nodir does not exist"),  # it spoke of a lock file
    (["info", "survey.zarr/amplitude"], "an array or group inside the seisbatch store survey.zarr: give the store "
     "itself (`survey.zarr`)"),
    (["convert", "survey.zarr", "again.zarr"], "already a seisbatch store: there is nothing to convert"),
]


@pytest.mark.parametrize("argv, message", MISTAKES, ids=[" ".join(a[:4]) for a, _ in MISTAKES])
def test_a_mistake_is_one_line_and_exit_2_before_any_cluster_leaving_nothing(place, argv, message, capsys,
                                                                              monkeypatch):
    def no_cluster(**kwargs):
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(engine, "dask_client", no_cluster)
    monkeypatch.chdir(place)
    before = _tree(place)
    t0 = time.perf_counter()
    assert main(argv) == 2
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err
    assert err.startswith("seisbatch: error: ") and err.count("\n") == 1 and message in err, err
    assert seconds < 10, f"{seconds:.1f} s to refuse"  # one file read at most: no scan, no cluster
    assert _tree(place) == before  # nothing made, nothing changed (no OUT.partial, no store, no lock)


def test_a_mistyped_option_gets_the_command_s_usage_and_the_nearest_option(place, capsys, monkeypatch):
    monkeypatch.chdir(place)
    with pytest.raises(SystemExit) as exc:
        main(["denoise", "survey.zarr", "--wrkers", "2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: seisbatch denoise ")  # the command's usage, not the top level's
    assert err.strip().endswith("unrecognized arguments: --wrkers 2 (did you mean --workers?)")


def test_a_velocity_model_is_denoised_with_a_warning_and_depth_data_is_flagged(tmp_path, capsys):
    """Data far from zero mean (a velocity model) gets a warning before denoising, not a silent
    run; a SEG-Y file whose textual header says depth is flagged by info and convert."""
    import h5py
    import numpy as np

    from seisbatch import segy_writer, synthetic

    vel = 2000 + 50 * np.random.default_rng(0).normal(size=(6, 8, 64)).cumsum(axis=-1)  # m/s, increasing with depth
    with h5py.File(tmp_path / "vel.h5", "w") as f:
        f["velocity"] = vel.astype("float32")
    z = str(tmp_path / "vel.zarr")
    small_model(tmp_path / "m.keras", seed=1, depth=3, filters=4)
    assert main(["convert", str(tmp_path / "vel.h5"), z, "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["denoise", z, "--model", str(tmp_path / "m.keras"), "--workers", "1", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "looks like a property volume (velocity, impedance)" in err
    sgy = tmp_path / "s.sgy"
    synthetic.write_segy(sgy, synthetic.SurveySpec(n_inline=3, n_crossline=4, n_samples=50))
    assert main(["info", str(sgy)]) == 0 and "(time: assumed" in capsys.readouterr().out
    raw = bytearray(sgy.read_bytes())
    raw[:3200] = segy_writer.file_header(50, 4000, "PSDM DEPTH MIGRATED CUBE, Z IN METRES")[0]
    sgy.write_bytes(bytes(raw))
    assert main(["info", str(sgy)]) == 0
    assert "(depth: the textual header says 'PSDM'; convert with --sample-units m" in capsys.readouterr().out
    assert main(["convert", str(sgy), str(tmp_path / "d.zarr"), "--workers", "1", "--quiet"]) == 0
    assert "note: depth data (the textual header says 'PSDM'): samples are labelled in ms" in capsys.readouterr().out
