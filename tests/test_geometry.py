"""Geometry detection from header values: 3D grids (regular, irregular, stepped), 2D, pre-stack."""

import numpy as np
import pytest

from seisbatch import geometry
from seisbatch.errors import SeisbatchError


def grid(ils, xls):
    il, xl = np.meshgrid(ils, xls, indexing="ij")
    return il.ravel(), xl.ravel()


def test_regular_3d_with_steps():
    il, xl = grid(np.arange(100, 120, 2), np.arange(5, 50, 5))
    g = geometry.detect(il, xl)
    assert g.kind == "3d" and g.grid_shape == (10, 9)
    assert np.array_equal(g.axes["inline"], np.arange(100, 120, 2))
    assert np.array_equal(g.grid_index, np.arange(90))


def test_crossline_sorted_maps_each_trace_to_its_cell():
    il, xl = grid(np.arange(4), np.arange(3))
    order = np.lexsort((il, xl))  # crossline-major file order
    g = geometry.detect(il[order], xl[order])
    assert g.kind == "3d"
    r, c = np.unravel_index(g.grid_index, g.grid_shape)
    assert np.array_equal(r, il[order]) and np.array_equal(c, xl[order])


def test_irregular_grid_keeps_missing_lines_as_dead_cells():
    il, xl = grid(np.arange(10), np.arange(8))
    keep = (il != 4) & ~((il == 2) & (xl > 3))  # a whole missing inline and a ragged one
    g = geometry.detect(il[keep], xl[keep])
    assert g.kind == "3d" and g.grid_shape == (10, 8)
    assert g.n_live == keep.sum() and "missing" in g.notes[0]


def test_duplicates_fall_back_to_traces_or_fail_when_3d_is_forced():
    il, xl = grid(np.arange(5), np.arange(4))
    il, xl = np.concatenate([il, il]), np.concatenate([xl, xl])  # two traces per bin (pre-stack)
    assert geometry.detect(il, xl).kind == "traces"
    with pytest.raises(SeisbatchError, match="duplicate inline/crossline pairs"):
        geometry.detect(il, xl, "3d", "f.sgy")


def test_2d_line_and_constant_headers():
    assert geometry.detect(np.arange(10), np.full(10, 7)).kind == "2d"
    assert geometry.detect(np.zeros(10, int), np.zeros(10, int)).kind == "traces"


def test_sparse_grid_is_not_forced_into_a_huge_cube():
    il = np.arange(0, 1000, 1)
    xl = np.arange(1000)[::-1] * 3 + 1
    g = geometry.detect(il, xl)  # one trace per inline and crossline: a diagonal, 0.1% full
    assert g.kind == "traces"


def test_unknown_geometry_name():
    with pytest.raises(SeisbatchError, match="unknown geometry"):
        geometry.detect(np.arange(3), np.arange(3), "4d")
