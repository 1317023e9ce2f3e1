"""The tile plan covers every sample exactly once; crop blending equals whole-section inference;
taper blending is seam-free. Pure NumPy and a small Keras model: no Dask here."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seisbatch import model as dncnn
from seisbatch import tiling


def coverage(p: tiling.Plan) -> np.ndarray:
    """How many tile cores claim each sample of the survey."""
    count = np.zeros(p.shape, np.int32)
    for task in p.tasks:
        region = p.region(task)
        block = np.zeros(tuple(len(range(*s.indices(n))) for s, n in zip(region, p.shape)), np.int32)
        sections = p.sections(block)
        c0, d0 = task.traces[0] - task.read[0], task.samples[0] - task.read_samples[0]
        for (ct, cs), (wt, ws) in task.tiles:
            assert wt[0] <= ct[0] and ct[1] <= wt[1] and ws[0] <= cs[0] and cs[1] <= ws[1]
            assert 0 <= wt[0] and wt[1] <= task.read[1] - task.read[0]
            assert 0 <= ws[0] and ws[1] <= task.read_samples[1] - task.read_samples[0]
            sections[:, ct[0] - c0 : ct[1] - c0, cs[0] - d0 : cs[1] - d0] += 1
        count[region] += p.unsections(sections, block.shape)
    return count


@settings(max_examples=60, deadline=None)
@given(
    shape=st.one_of(
        st.tuples(st.integers(1, 40), st.integers(1, 70), st.integers(1, 90)),
        st.tuples(st.integers(1, 300), st.integers(1, 90)),
        st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(1, 30), st.integers(1, 40)),  # 3D gathers
    ),
    tile_t=st.integers(1, 50), tile_s=st.integers(1, 60), halo=st.integers(0, 20),
    chunk=st.integers(1, 16), direction=st.sampled_from(["inline", "crossline"]), axis=st.integers(0, 2),
    budget=st.sampled_from([50, 400, 1 << 25]), s_chunk=st.sampled_from([7, 32]), min_tasks=st.integers(1, 12),
)
def test_every_sample_is_covered_exactly_once(shape, tile_t, tile_s, halo, chunk, direction, axis, budget, s_chunk,
                                              min_tasks):
    chunks = (chunk,) * (len(shape) - 1) + (min(shape[-1], s_chunk),)
    how = {"axis": axis} if len(shape) == 4 else {"direction": direction}  # a gather store names its trace axis
    p = tiling.plan(shape, chunks, (tile_t, tile_s), halo, max_task_samples=budget, min_tasks=min_tasks, **how)
    assert np.array_equal(coverage(p), np.ones(shape, np.int32))
    # tasks are aligned to chunks along every axis, so they write disjoint chunks
    for t in p.tasks:
        assert t.traces[0] % chunks[p.trace_axis] == 0 and t.samples[0] % chunks[-1] == 0
        assert all(r[0] % chunks[a] == 0 for a, r in zip(p.stack_axes, t.stack))
    # samples are split only to reach min_tasks, and then as far as the sample chunks allow
    unsplit = tiling.plan(shape, chunks, (tile_t, tile_s), halo, max_task_samples=budget, **how)
    n_chunks = -(-shape[-1] // chunks[-1])
    if len(unsplit.tasks) >= min_tasks:
        assert p == unsplit
    else:
        assert len(p.tasks) >= min(min_tasks, len(unsplit.tasks) * n_chunks)
    assert tiling.Plan.from_dict(json.loads(json.dumps(p.to_dict()))) == p


@pytest.mark.parametrize("shape", [(1, 5), (3, 1), (1, 1, 1), (2, 3, 200)])
def test_awkward_sizes(shape):
    p = tiling.plan(shape, tuple(min(s, 4) for s in shape), (64, 64), 17)
    assert np.array_equal(coverage(p), np.ones(shape, np.int32))


@pytest.fixture(scope="module")
def small_model():
    keras.utils.set_random_seed(4)
    m = dncnn.build_dncnn(depth=6, filters=8)
    rng = np.random.default_rng(1)
    for layer in m.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            g, b, mu, var = layer.get_weights()
            layer.set_weights([g, rng.normal(0, 0.2, b.shape), rng.normal(0, 0.2, mu.shape), rng.uniform(0.5, 2, var.shape)])
    return m


def _whole_sections(model, vol: np.ndarray, p: tiling.Plan) -> np.ndarray:
    """The reference: every section through the model in one piece."""
    return p.unsections(dncnn.predict(model, p.sections(vol)), vol.shape)


def _tiled(model, vol, p, blend):
    out = np.zeros_like(vol)
    for task in p.tasks:
        out[p.region(task)] = tiling.denoise_block(vol[p.region(task, read=True)], p, task,
                                                   lambda b: dncnn.predict(model, b), blend, batch_size=5)
    return out


@pytest.mark.parametrize("shape,direction,budget,min_tasks", [
    ((5, 37, 45), "inline", 1 << 25, 1),
    ((7, 29, 50), "crossline", 1 << 25, 1),
    ((61, 53), "inline", 1 << 25, 1),
    ((90, 41), "inline", 41 * 16, 1),  # long 2D line split into several tasks with a trace halo
    ((61, 53), "inline", 1 << 25, 3),  # a short 2D line cut along samples to feed 3 task slots
    ((5, 37, 45), "crossline", 1 << 25, 12),  # 5 crossline blocks cut in 3 along samples: both halos
    ((6, 24, 45), 1, 1 << 25, 1),  # 2D CMP or shot gathers, gather domain: each gather one section
    ((6, 24, 45), 0, 1 << 25, 1),  # their offset (channel) domain: along cdp at each offset
    ((3, 4, 20, 45), 2, 1 << 25, 1),  # 3D CMP gathers, gather domain
    ((3, 4, 20, 45), 1, 1 << 25, 9),  # 3D CMP, offset domain along crossline, cut along samples too
])
def test_crop_with_receptive_halo_equals_whole_section_inference(small_model, shape, direction, budget, min_tasks):
    """Per section, whatever the sections are: in a gather store, equality with each gather (or
    each common-offset section) through the model alone also says no tile mixes two of them."""
    vol = np.random.default_rng(2).normal(size=shape).astype(np.float32)
    how = {"axis": direction} if isinstance(direction, int) else {"direction": direction}
    p = tiling.plan(shape, tuple(min(s, 8) for s in shape[:-1]) + (16,), (16, 20),
                    dncnn.receptive_radius(small_model), max_task_samples=budget, min_tasks=min_tasks, **how)
    assert sum(len(t.tiles) for t in p.tasks) > 4
    if min_tasks > 1:
        assert len({t.samples for t in p.tasks}) == 3
    ref = _whole_sections(small_model, vol, p)
    np.testing.assert_allclose(_tiled(small_model, vol, p, "crop"), ref, atol=2e-5 * np.abs(ref).max())


def test_a_short_halo_with_crop_is_not_exact(small_model):
    """The exactness above is not vacuous: too little context changes the result at tile seams."""
    vol = np.random.default_rng(3).normal(size=(60, 60)).astype(np.float32)
    p = tiling.plan(vol.shape, (8, 60), (16, 16), 2)
    ref = _whole_sections(small_model, vol, p)
    assert np.abs(_tiled(small_model, vol, p, "crop") - ref).max() > 1e-3


def _step_excess(out: np.ndarray, ref: np.ndarray, axis: int) -> float:
    """Largest sample-to-sample step of ``out`` beyond the reference's own step there: a seam."""
    d = np.abs(np.diff(out, axis=axis)).max(axis=1 - axis)
    return float((d - np.abs(np.diff(ref, axis=axis)).max(axis=1 - axis)).max())


def test_taper_blending_is_seam_free_with_a_short_halo(small_model):
    x = np.linspace(0, 6 * np.pi, 96)
    vol = (np.sin(x)[:, None] * np.cos(0.7 * x)[None, :]).astype(np.float32)  # smooth: no seams of its own
    radius = dncnn.receptive_radius(small_model)
    p = tiling.plan(vol.shape, (8, 96), (24, 24), radius - 1)
    ref = _whole_sections(small_model, vol, p)
    crop, taper = _tiled(small_model, vol, p, "crop"), _tiled(small_model, vol, p, "taper")
    # crop with too little context leaves steps at tile edges; taper spreads them over the overlap
    for axis in (0, 1):
        assert _step_excess(crop, ref, axis) > 1e-3
        assert _step_excess(taper, ref, axis) < _step_excess(crop, ref, axis)
    assert np.abs(taper - ref).max() < np.abs(crop - ref).max()


@pytest.mark.parametrize("shape,min_tasks", [((3, 50, 70), 1), ((131, 40), 1), ((1, 50, 70), 3), ((30, 70), 2)])
def test_taper_weights_are_normalised(shape, min_tasks):
    """Overlap-add of an identity "model" gives back the input: the blend is a weighted mean."""
    vol = np.random.default_rng(5).normal(size=shape).astype(np.float32)
    p = tiling.plan(shape, (2,) * (len(shape) - 1) + (24,), (16, 16), 5, max_task_samples=40 * 40, min_tasks=min_tasks)
    out = np.zeros_like(vol)
    for task in p.tasks:
        out[p.region(task)] = tiling.denoise_block(vol[p.region(task, read=True)], p, task, lambda b: b, "taper", 3)
    np.testing.assert_allclose(out, vol, rtol=1e-5, atol=1e-6)
