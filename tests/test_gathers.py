"""Pre-stack gathers: layouts detected from the headers and stored with named dims, exported byte
for byte; denoised per gather or per offset, never across either; amplitude versus offset kept."""

from __future__ import annotations

import hashlib
import pathlib

import numpy as np
import pytest
import zarr

from conftest import small_model
from seisbatch import convert, denoise, gathers, geometry, orthogonalize, qc
from seisbatch import model as dncnn
from seisbatch.cli import main
from seisbatch.errors import SeisbatchError

DATA = pathlib.Path(__file__).parent / "data"


def _sha(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------ detection (pure)


def _keys(il, xl, offset, cdp, shot, channel):
    return {"offset": np.asarray(offset), "cdp": np.asarray(cdp), "shot_point": np.asarray(shot),
            "channel": np.asarray(channel)}, np.asarray(il), np.asarray(xl)


def test_each_layout_is_detected_from_its_keys():
    g, off = np.repeat(np.arange(10), 6), np.tile(100 * np.arange(1, 7), 10)
    zeros = np.zeros_like(g)
    keys, il, xl = _keys(zeros, zeros, off, 500 + g, zeros, zeros)  # a CMP line: cdp and offset
    geom = geometry.detect(il, xl, gathers=keys)
    assert geom.kind == "cmp2d" and geom.dims == ("cdp", "offset") and geom.grid_shape == (10, 6)
    assert list(geom.axes["offset"]) == list(100 * np.arange(1, 7)) and geom.axes["cdp"][0] == 500
    keys, il, xl = _keys(1000 + g // 5, 2000 + g % 5, off, g, zeros, zeros)  # 3D CMP: inline, crossline, offset
    geom = geometry.detect(il, xl, gathers=keys)
    assert geom.kind == "cmp3d" and geom.grid_shape == (2, 5, 6)
    ch = np.tile(np.arange(1, 7), 10)  # shots: each trace its own CMP, so the cdp x offset grid is sparse
    keys, il, xl = _keys(zeros, zeros, 50 * ch + 7 * g, g * 6 + ch, 101 + g, ch)
    geom = geometry.detect(il, xl, gathers=keys)
    assert geom.kind == "shot" and geom.dims == ("shot_point", "channel") and geom.grid_shape == (10, 6)
    keys, il, xl = _keys(zeros, zeros, np.zeros_like(g), np.arange(60), zeros, zeros)  # offsets constant: not gathers
    assert geometry.detect(il, xl, gathers=keys).kind == "traces"


def test_offsets_that_differ_between_gathers_are_binned_on_request():
    g = np.repeat(np.arange(8), 5)
    off = np.tile(100 * np.arange(1, 6), 8) + np.where(g % 2, 3, 0)  # odd gathers 3 m further out
    keys, il, xl = _keys(np.zeros_like(g), np.zeros_like(g), off, g, np.zeros_like(g), np.zeros_like(g))
    assert geometry.detect(il, xl, gathers=keys).grid_shape == (8, 10)  # each offset its own column, half empty
    binned = geometry.detect(il, xl, gathers=keys, offset_bins=100)
    assert binned.kind == "cmp2d" and binned.grid_shape == (8, 5) and list(binned.axes["offset"]) == [100, 200, 300, 400, 500]
    with pytest.raises(SeisbatchError, match="offset-bins"):  # bins so wide two traces of a gather share one
        geometry.detect(il, xl, "cmp2d", "x.sgy", gathers=keys, offset_bins=250)


# ------------------------------------------------------------------ real files, synthetic 3D gathers


@pytest.mark.parametrize("name,dims,shape", [
    ("segyio_viking_small.segy", ("shot_point", "channel", "sample"), (4, 120, 600)),
    ("seismiclab_gom_cdp1010_nmo.sgy", ("cdp", "offset", "sample"), (1, 92, 1751)),
])
def test_real_gathers_convert_to_their_layout_and_export_byte_for_byte(tmp_path, client, name, dims, shape, capsys):
    src, z, back = DATA / name, str(tmp_path / "g.zarr"), tmp_path / "back.sgy"
    before = _sha(src)
    convert.convert_segy(str(src), z, client=client)
    root = zarr.open_group(z, mode="r")
    assert tuple(root["amplitude"].metadata.dimension_names) == dims and root["amplitude"].shape == shape
    assert root["amplitude"].chunks[1] == shape[1]  # a gather is never cut across chunks
    assert main(["info", z]) == 0 and "note: header bytes:" in capsys.readouterr().out
    assert main(["export", z, str(back), "--quiet", "--scheduler", client.scheduler.address]) == 0
    assert _sha(back) == _sha(src) == before


def test_synthetic_3d_gathers_have_coordinates_and_come_back_byte_for_byte(tmp_path, client, capsys):
    sgy, z, back = tmp_path / "c.sgy", str(tmp_path / "c.zarr"), tmp_path / "b.sgy"
    assert main(["synth", str(sgy), "--gathers", "cmp3d", "--inlines", "3", "--crosslines", "4", "--offsets", "10",
                 "--samples", "64", "--snr", "5"]) == 0
    assert "12 CMP gathers x 10 offsets" in capsys.readouterr().out
    convert.convert_segy(str(sgy), z, client=client)
    root = zarr.open_group(z, mode="r")
    assert tuple(root["amplitude"].metadata.dimension_names) == ("inline", "crossline", "offset", "sample")
    assert list(root["inline"][:]) == [1000, 1001, 1002] and list(root["offset"][:]) == list(range(100, 1001, 100))
    convert.convert_segy(str(sgy), str(tmp_path / "t.zarr"), client=client, geometry_kind="traces")  # forced
    assert zarr.open_group(str(tmp_path / "t.zarr"), mode="r")["amplitude"].shape == (120, 64)
    assert main(["export", z, str(back), "--quiet", "--scheduler", client.scheduler.address]) == 0
    assert _sha(back) == _sha(sgy)


def test_irregular_gathers_keep_their_missing_traces_in_the_mask(tmp_path, client, tiny):
    """Varying fold: the offsets a gather lacks are dead cells of the grid, zero in every output,
    and the file comes back byte for byte."""
    sgy, z, back = tmp_path / "c.sgy", str(tmp_path / "c.zarr"), tmp_path / "b.sgy"
    r = gathers.write_segy(sgy, gathers.GatherSpec(n_cdp=10, n_offsets=16, n_samples=64), snr_db=5, missing=0.2)
    assert 100 < r["traces"] < 150
    s = convert.convert_segy(str(sgy), z, client=client)
    assert s["geometry"] == "cmp2d" and s["shape"] == [10, 16, 64]
    denoise.denoise(z, tiny, denoise.DenoiseSpec(tile=(16, 32)), client=client)
    root = zarr.open_group(z, mode="r")
    mask = root["trace_mask"][:]
    assert mask.sum() == r["traces"] and not root["denoised"][:][~mask].any()
    assert main(["export", z, str(back), "--quiet", "--scheduler", client.scheduler.address]) == 0
    assert _sha(back) == _sha(sgy)


# ------------------------------------------------------------------ domains: never across gathers or offsets


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("m") / "m.keras"
    small_model(path, seed=3, depth=5, filters=8)
    return str(path)


@pytest.mark.parametrize("domain,axes", [("gather", (0, 1)), ("offset", (1, 0))])
def test_each_domain_equals_its_sections_through_the_model_alone(tmp_path, client, tiny, domain, axes):
    """Tiled on Dask with several gathers per chunk, the output equals each gather (or each
    common-offset section) through the model on its own: no tile holds traces of two."""
    sgy, z = tmp_path / "c.sgy", str(tmp_path / "c.zarr")
    gathers.write_segy(sgy, gathers.GatherSpec(n_cdp=20, n_offsets=12, n_samples=80), snr_db=3)
    convert.convert_segy(str(sgy), z, client=client, chunks=(6, 12, 40))
    r = denoise.denoise(z, tiny, denoise.DenoiseSpec(domain=domain, restore=False, tile=(8, 24)), client=client)
    assert r["sections"] == domain and r["tasks"] > 1
    root = zarr.open_group(z, mode="r")
    amp, out = root["amplitude"][:], root["denoised"][:]
    s = np.float32(root["denoised"].attrs["seisbatch"]["params"]["scale"])
    m = dncnn.load(tiny)
    ref = np.moveaxis(dncnn.predict(m, np.moveaxis(amp, axes, (0, 1)) * s), (0, 1), axes) / s
    np.testing.assert_allclose(out, ref, atol=3e-5 * np.abs(ref).max())


def test_a_domain_on_post_stack_data_is_one_line_before_any_cluster(tmp_path, capsys):
    z = tmp_path / "s.zarr"
    assert main(["convert", str(DATA / "segyio_f3.sgy"), str(z), "--workers", "1", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["denoise", str(z), "--domain", "offset", "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "--domain is for pre-stack gathers" in err and err.count("\n") == 1


# ------------------------------------------------------------------ amplitude versus offset


def test_restoration_puts_back_a_lost_share_of_the_signal_and_little_noise():
    rng = np.random.default_rng(0)
    t = np.arange(200)
    signal = np.sin(2 * np.pi * t / 25)[None, None, :] * np.linspace(1, 2, 30)[None, :, None]
    noise = rng.normal(0, 0.5, (1, 30, 200))
    out = orthogonalize.restore(signal + noise, 0.7 * signal)  # a denoiser that lost 30% of the signal
    assert np.abs(out - signal).std() < 0.1 * np.abs(0.7 * signal - signal).std() + 0.05
    quiet = orthogonalize.restore(noise, np.zeros_like(noise))  # nothing to restore where nothing was kept
    assert not quiet.any()
    sim = orthogonalize.local_similarity(signal, 0.3 * signal + 0.01 * noise)
    assert sim.mean() > 0.9 and abs(orthogonalize.local_similarity(signal, noise).mean()) < 0.1


def test_amplitude_versus_offset_survives_denoising_of_gathers_and_not_of_flattened_traces(tmp_path, client):
    """Synthetic NMO-flat CMP gathers with known AVO at 5 dB, the shipped model, default settings
    (each gather a section, lost signal restored): SNR rises and the gradients stay within 15%.
    The same file flattened to traces in file order mixes offsets of neighbouring gathers."""
    spec = gathers.GatherSpec(n_cdp=128)
    sgy = tmp_path / "g.sgy"
    gathers.write_segy(sgy, spec, snr_db=5)
    clean = gathers.clean_gathers(spec, np.arange(spec.n_cdp))

    def snr(x):
        return 10 * np.log10((clean.astype(np.float64) ** 2).sum() / ((x - clean).astype(np.float64) ** 2).sum())

    results = {}
    for layout in ("auto", "traces"):
        z = str(tmp_path / f"{layout}.zarr")
        convert.convert_segy(str(sgy), z, client=client, geometry_kind=layout)
        denoise.denoise(z, None, denoise.DenoiseSpec(), client=client)
        root = zarr.open_group(z, mode="r")
        results[layout] = (root["amplitude"][:].reshape(clean.shape), root["denoised"][:].reshape(clean.shape))
    noisy, den = results["auto"]
    avo = gathers.avo(den, spec)
    assert snr(den) > snr(noisy) + 8
    assert avo["correlation"] >= 0.95 and avo["gradient_error_max"] <= 0.15, avo
    assert gathers.avo(results["traces"][1], spec)["gradient_error_max"] > 0.3  # the failure the layout prevents
    q = qc.qc(str(tmp_path / "auto.zarr"), png=str(tmp_path / "qc.png"))
    assert q["direction"] == "gather" and len(q["sections"]) == spec.n_cdp and (tmp_path / "qc.png").stat().st_size
    ev = gathers.events(spec)  # the figure's gather is the middle one; the curve is at one of its events' peaks
    times = list(gathers.event_times(spec, ev, np.array([spec.n_cdp // 2]))[0])
    k = times.index(int(q["avo"]["sample"] / spec.dt_ms))
    truth = gathers.truth_amplitudes(spec, ev)
    assert (truth[k] ** 2).sum() >= 0.7 * (truth**2).sum(axis=1).max()  # among the strongest
    curve = np.array(q["avo"][f"denoised at {q['avo']['sample']:g} ms"])
    assert len(curve) == spec.n_offsets and np.corrcoef(curve, truth[k])[0, 1] > 0.9
