"""seisbatch denoise on Dask: whole-store exactness, dead traces, real 2D/3D/pre-stack files, resume,
refusal to mix models or parameters, and the input left untouched."""

from __future__ import annotations

import hashlib
import os
import pathlib
import shutil

import numpy as np
import pytest
import zarr

from conftest import small_model
from seisbatch import convert, denoise, engine, stats, synthetic, tiling
from seisbatch import model as dncnn
from seisbatch import store as sb_store
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError

DATA = pathlib.Path(__file__).parent / "data"


def _tiny(path: pathlib.Path, seed: int) -> str:
    return small_model(path, seed=seed, depth=5, filters=8)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return _tiny(tmp_path_factory.mktemp("models") / "tiny.keras", 0)


def _tree_digest(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    for f in sorted(path.rglob("*")):
        if f.is_file():
            h.update(str(f.relative_to(path)).encode() + f.read_bytes())
    return h.hexdigest()


def _reference(model_path: str, store: str, direction: str = "inline") -> np.ndarray:
    """Whole-section inference of the scaled survey, unscaled, dead traces zeroed."""
    root = zarr.open_group(store, mode="r")
    amp, mask = root["amplitude"][:], root["trace_mask"][:]
    s = stats.scale_factor(root.attrs["seisbatch"]["stats"])
    m = dncnn.load(model_path)
    if amp.ndim == 2:
        out = dncnn.predict(m, amp[None] * s)[0] / s
    else:
        axes = (0, 1) if direction == "inline" else (1, 0)
        out = np.moveaxis(dncnn.predict(m, np.moveaxis(amp, axes, (0, 1)) * s), (0, 1), axes) / s
    out[~mask] = 0
    return out


@pytest.fixture
def survey(tmp_path, client):
    spec = synthetic.SurveySpec(n_inline=37, n_crossline=41, n_samples=75, seed=8)
    synthetic.write_segy(tmp_path / "s.sgy", spec, snr_db=5, missing=0.05)
    store = str(tmp_path / "s.zarr")
    convert.convert_segy(str(tmp_path / "s.sgy"), store, client=client, chunks=(8, 16, 75))
    return store


@pytest.mark.parametrize("direction", ["inline", "crossline"])
def test_whole_store_equals_whole_section_inference(survey, tiny_model, client, direction):
    before = _tree_digest(pathlib.Path(survey) / "amplitude")
    r = denoise.denoise(survey, tiny_model, denoise.DenoiseSpec(direction=direction, tile=(16, 24)), client=client)
    blocks = 5 if direction == "inline" else 3  # 37 inlines in chunks of 8, 41 crosslines in chunks of 16
    assert r["tasks"] == blocks and r["computed"] == blocks and r["halo"] == 5 and r["tiles"] > 40
    root = zarr.open_group(survey, mode="r")
    out = root["denoised"][:]
    ref = _reference(tiny_model, survey, direction)
    np.testing.assert_allclose(out, ref, atol=3e-5 * np.abs(ref).max())
    mask = root["trace_mask"][:]
    assert not mask.all() and not out[~mask].any() and np.abs(out[mask]).max() > 0
    assert _tree_digest(pathlib.Path(survey) / "amplitude") == before  # the input is never written
    attrs = root["denoised"].attrs["seisbatch"]
    assert attrs["complete"] and attrs["model_digest"] == dncnn.digest(dncnn.load(tiny_model))
    assert attrs["params"]["direction"] == direction and attrs["params"]["blend"] == "crop"


@pytest.mark.parametrize("name,dims", [
    ("segysak_f3-withdead.sgy", ("inline", "crossline", "sample")),
    ("gundih_2D_Xline_12680.sgy", ("trace", "sample")),
    ("segyio_viking_small.segy", ("shot_point", "channel", "sample")),  # shot gathers: each gather a section
])
def test_real_files_2d_3d_and_prestack(tmp_path, client, tiny_model, name, dims):
    store = str(tmp_path / "r.zarr")
    compression = "zstd" if name == "gundih_2D_Xline_12680.sgy" else None  # the output takes the store's codec
    convert.convert_segy(str(DATA / name), store, client=client, compression=compression)
    root = zarr.open_group(store, mode="r")
    assert tuple(root["amplitude"].metadata.dimension_names) == dims
    denoise.denoise(store, tiny_model, denoise.DenoiseSpec(tile=(64, 128), restore=False), client=client)
    ref = _reference(tiny_model, store)
    out = zarr.open_group(store, mode="r")["denoised"]
    np.testing.assert_allclose(out[:], ref, atol=3e-5 * np.abs(ref).max())
    assert sb_store.codec_name(out) == (compression or "lz4")
    assert main(["export", store, str(tmp_path / "d.sgy"), "--array", "denoised", "--quiet", "--scheduler",
                 client.scheduler.address]) == 0
    assert (tmp_path / "d.sgy").stat().st_size == (DATA / name).stat().st_size


class _Stop(Exception):
    pass


def test_interrupted_run_resumes_with_only_the_missing_blocks(survey, tiny_model, client, tmp_path):
    store = str(tmp_path / "fine.zarr")  # 2-inline chunks: 19 blocks, so most are still to do at the stop
    convert.convert_segy(str(tmp_path / "s.sgy"), store, client=client, chunks=(2, 41, 75))
    survey = store
    spec = denoise.DenoiseSpec(tile=(16, 24))

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise _Stop

    with pytest.raises(_Stop):
        denoise.denoise(survey, tiny_model, spec, client=client, progress=stop_after_two)
    root = zarr.open_group(survey, mode="r")
    assert not root["denoised"].attrs["seisbatch"]["complete"]
    with pytest.raises(SeisbatchError, match="incomplete"):
        from seisbatch import export

        export.export_segy(survey, str(pathlib.Path(survey).parent / "x.sgy"), array="denoised", client=client)
    flags = sb_store.done_mask(survey, "denoised")
    assert 2 <= flags.sum() < len(flags)
    r = denoise.denoise(survey, tiny_model, spec, client=client)
    # blocks already running when the first run stopped may finish in between: never fewer resumed
    assert r["resumed"] >= int(flags.sum()) and r["computed"] >= 1 and r["resumed"] + r["computed"] == len(flags)
    ref = _reference(tiny_model, survey)
    np.testing.assert_allclose(zarr.open_group(survey, mode="r")["denoised"][:], ref, atol=3e-5 * np.abs(ref).max())
    again = denoise.denoise(survey, tiny_model, spec, client=client)
    assert again["already_complete"]


def test_a_short_2d_line_is_cut_along_samples_and_resumes_on_another_cluster(tiny_model, client, tmp_path):
    """A line of one trace chunk would be one task, leaving all but one worker idle: it is cut along
    samples into one task per task slot. A resumed run keeps that cut on a cluster of other size."""
    store = str(tmp_path / "line.zarr")
    convert.convert_segy(str(DATA / "gundih_2D_Xline_12680.sgy"), store, client=client, chunks=(1024, 128))
    spec = denoise.DenoiseSpec(tile=(256, 256))

    def stop_after_one(done: int, total: int) -> None:
        if done >= 1:
            raise _Stop

    with engine.dask_client(workers=1, threads_per_worker=4) as four_slots:
        with pytest.raises(_Stop):
            denoise.denoise(store, tiny_model, spec, client=four_slots, progress=stop_after_one)
    root = zarr.open_group(store, mode="r")
    assert root["denoised"].attrs["seisbatch"]["params"]["min_tasks"] == 4
    flags = sb_store.done_mask(store, "denoised")
    assert len(flags) == 4 and 1 <= flags.sum()
    r = denoise.denoise(store, tiny_model, spec, client=client)  # 2 slots now: the plan of the first run
    assert r["tasks"] == 4 and r["resumed"] >= int(flags.sum()) and r["resumed"] + r["computed"] == 4
    ref = _reference(tiny_model, store)
    np.testing.assert_allclose(zarr.open_group(store, mode="r")["denoised"][:], ref, atol=3e-5 * np.abs(ref).max())
    fresh = denoise.denoise(store, tiny_model, denoise.DenoiseSpec(tile=(256, 256), output="again"), client=client)
    assert fresh["tasks"] == 2  # a new run is cut for the cluster it runs on


def _loaded_models() -> list:
    from seisbatch import denoise as d  # on a worker

    return [(key[0], id(m), digest) for key, (digest, m, _) in d._LOADED.items()]


def test_workers_keep_a_loaded_model_for_the_next_run_until_its_file_changes(survey, tiny_model, client, tmp_path):
    model = tmp_path / "m.keras"
    shutil.copy(tiny_model, model)
    spec = denoise.DenoiseSpec(tile=(16, 24))
    denoise.denoise(survey, str(model), spec, client=client)
    first = {w: v for w, v in client.run(_loaded_models).items() if v and v[0][0] == str(model)}
    assert first  # the workers that ran blocks hold the model ...
    denoise.denoise(survey, str(model), denoise.DenoiseSpec(tile=(16, 24), output="again"), client=client)
    again = client.run(_loaded_models)
    assert all(again[w] == v for w, v in first.items())  # ... and the next run uses those very objects
    shutil.copy(_tiny(tmp_path / "other.keras", 1), model)  # the file is replaced in place
    r = denoise.denoise(survey, str(model), denoise.DenoiseSpec(tile=(16, 24), output="third"), client=client)
    assert r["model_digest"] == dncnn.digest(dncnn.load(str(model))) != next(iter(first.values()))[0][2]
    assert not np.array_equal(zarr.open_group(survey, mode="r")["third"][:], zarr.open_group(survey, mode="r")["again"][:])


def test_another_model_or_parameters_is_refused_without_overwrite(survey, tiny_model, client, tmp_path):
    denoise.denoise(survey, tiny_model, denoise.DenoiseSpec(tile=(16, 24)), client=client)
    first = zarr.open_group(survey, mode="r")["denoised"][:]
    other = _tiny(tmp_path / "other.keras", 1)
    with pytest.raises(SeisbatchError, match="another model"):
        denoise.denoise(survey, other, denoise.DenoiseSpec(tile=(16, 24)), client=client)
    with pytest.raises(SeisbatchError, match="other parameters"):
        denoise.denoise(survey, tiny_model, denoise.DenoiseSpec(tile=(16, 24), blend="taper"), client=client)
    np.testing.assert_array_equal(zarr.open_group(survey, mode="r")["denoised"][:], first)
    r = denoise.denoise(survey, other, denoise.DenoiseSpec(tile=(16, 24)), client=client, overwrite=True)
    assert r["computed"] == r["tasks"]
    assert not np.array_equal(zarr.open_group(survey, mode="r")["denoised"][:], first)
    denoise.denoise(survey, tiny_model, denoise.DenoiseSpec(output="second", tile=(16, 24)), client=client)
    np.testing.assert_array_equal(zarr.open_group(survey, mode="r")["second"][:], first)


def test_cli_summary_and_reserved_names(survey, tiny_model, client, capsys):
    args = ["denoise", survey, "--model", tiny_model, "--tile", "16,24", "--quiet", "--scheduler", client.scheduler.address]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "5 blocks (5 computed)" in out and "samples/s" in out
    assert main(args) == 0 and "already complete" in capsys.readouterr().out
    assert main(args + ["--array", "amplitude"]) == 2
    assert "reserved" in capsys.readouterr().err


def test_an_output_never_replaces_an_array_denoise_did_not_write(survey, tiny_model, client, capsys):
    root = zarr.open_group(survey, mode="r+")
    root.create_array("picks", shape=(3,), dtype="float32")[:] = [1, 2, 3]  # the user's own array
    before = {k: root[k][...].copy() for k in root.array_keys()}
    args = ["denoise", survey, "--model", tiny_model, "--tile", "16,24", "--quiet", "--overwrite",
            "--scheduler", client.scheduler.address]
    for name, match in (("picks", "denoise did not write"), ("inline_number", "reserved"),
                        ("_convert_blocks", "letters, digits"), ("../elsewhere", "letters, digits"),
                        ("a/b", "letters, digits")):
        assert main(args + ["--array", name]) == 2
        err = capsys.readouterr().err
        assert match in err and err.count("\n") == 1, (name, err)
    root = zarr.open_group(survey, mode="r")
    assert sorted(root.array_keys()) == sorted(before)  # nothing made, nothing replaced
    for k, v in before.items():
        np.testing.assert_array_equal(root[k][...], v)
    assert not os.path.exists(os.path.join(os.path.dirname(survey), "elsewhere"))


def test_several_stores_in_one_command_each_checked_before_any_work(survey, tiny_model, client, tmp_path, capsys):
    line = str(tmp_path / "line.zarr")
    convert.convert_segy(str(DATA / "segyio_viking_small.segy"), line, client=client)
    common = ["--model", tiny_model, "--tile", "16,24", "--quiet", "--no-restore", "--scheduler", client.scheduler.address]
    missing = str(tmp_path / "nope.zarr")
    assert main(["denoise", survey, line, missing] + common) == 2
    assert missing in capsys.readouterr().err
    assert "denoised" not in zarr.open_group(survey, mode="r")  # nothing started before the bad store was found
    assert main(["denoise", survey, line, survey] + common) == 0  # a store named twice is denoised once
    out = capsys.readouterr().out
    assert out.count("denoised ") == 2 and "2 stores in" in out
    for path in (survey, line):
        ref = _reference(tiny_model, path)
        np.testing.assert_allclose(zarr.open_group(path, mode="r")["denoised"][:], ref, atol=3e-5 * np.abs(ref).max())


def test_plan_is_stored_by_digest_and_matches_shapes(survey, tiny_model, client):
    denoise.denoise(survey, tiny_model, denoise.DenoiseSpec(tile=(16, 24)), client=client)
    root = zarr.open_group(survey, mode="r")
    params = root["denoised"].attrs["seisbatch"]["params"]
    p = tiling.plan(root["amplitude"].shape, root["amplitude"].chunks, (16, 24), 5, min_tasks=params["min_tasks"])
    assert params["min_tasks"] == sum(w["nthreads"] for w in client.scheduler_info()["workers"].values())
    assert params["plan"] == p.digest()
    assert sb_store.GROUP not in root  # the progress of a complete output is gone


def test_progress_moves_per_tile_not_per_block(survey, tiny_model, monkeypatch):
    """A big survey's first block can take minutes: the bar follows the model's tiles, reported by
    the workers as Dask events while blocks run (here every batch: no throttle, in-process workers)."""
    monkeypatch.setattr(engine, "TILE_EVENT_S", 0.0)
    seen = []
    with engine.dask_client(workers=1, processes=False) as c:
        r = denoise.denoise(survey, tiny_model, denoise.DenoiseSpec(tile=(8, 24)), client=c,
                            tile_progress=lambda done, total: seen.append((done, total)))
    total = r["tiles"]
    assert seen[0] == (0, total) and seen[-1] == (total, total)
    assert all(t == total for _, t in seen) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert len({d for d, _ in seen}) > r["tasks"] + 1  # steps inside blocks, not only at their ends


def test_a_trial_over_a_subset_computes_only_its_blocks_and_the_full_run_resumes_from_them(
        survey, tiny_model, client, tmp_path, capsys):
    from seisbatch import qc

    root = zarr.open_group(survey, mode="r")
    il = root["inline"][:]
    common = ["--model", tiny_model, "--tile", "16,24", "--quiet", "--scheduler", client.scheduler.address]
    assert main(["denoise", survey, "--inlines", f"{il[6]}:{il[12]}", "--time", "20:60", *common]) == 0
    out = capsys.readouterr().out
    assert f"trial over inline {il[6]}..{il[12]}, sample 20..60: 2 of 5 blocks" in out  # inline chunks 0-7, 8-15
    den = zarr.open_group(survey, mode="r")["denoised"]
    assert not den.attrs["seisbatch"]["complete"] and den.attrs["seisbatch"]["trial"]["region"][0] == [6, 13]
    ref = _reference(tiny_model, survey)
    got = den[:]
    np.testing.assert_allclose(got[:16], ref[:16], atol=3e-5 * np.abs(ref).max())  # its whole blocks
    assert not got[16:].any()  # nothing else computed
    r = qc.qc(survey, png=str(tmp_path / "t.png"))  # qc looks at the trial's region only
    assert len(r["sections"]) == 7 and r["trial"] == {"inline": [float(il[6]), float(il[12])], "sample": [20.0, 60.0]}
    assert main(["export", survey, str(tmp_path / "x.sgy"), "--array", "denoised", "--quiet"]) == 2
    assert "holds a trial over inline" in capsys.readouterr().err
    assert main(["denoise", survey, *common]) == 0  # the whole survey, keeping the trial's blocks
    assert "(3 computed, 2 already done by an earlier run)" in capsys.readouterr().out
    np.testing.assert_allclose(zarr.open_group(survey, mode="r")["denoised"][:], ref, atol=3e-5 * np.abs(ref).max())
