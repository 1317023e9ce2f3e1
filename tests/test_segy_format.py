"""Sample codecs: IBM encoding against segyio's decoder, integer clipping, special values."""

import numpy as np
import pytest

from seisbatch.errors import SeisbatchError
from seisbatch.segy_format import SAMPLE_FORMATS, decode, encode, ieee_to_ibm, lossy_rows, raw_dtype


def test_ibm_known_values():
    # Classic reference values: 1.0, -118.625 and 0.15625 in IBM single precision.
    bits = ieee_to_ibm(np.array([1.0, -118.625, 0.15625], dtype=np.float32))
    assert bits.tolist() == [0x41100000, 0xC276A000, 0x40280000]


def test_ibm_roundtrip_is_exact_for_normalised_values():
    rng = np.random.default_rng(0)
    sign = rng.integers(0, 2, 200_000).astype(np.uint32) << 31
    exp = rng.integers(34, 96, 200_000).astype(np.uint32) << 24
    frac = rng.integers(0x100000, 0x1000000, 200_000).astype(np.uint32)  # leading hex digit non-zero
    bits = (sign | exp | frac).astype(">u4")
    values = decode(bits, 1)
    assert np.array_equal(encode(values, 1, "big"), bits)
    assert not lossy_rows(bits.reshape(100, -1), values.reshape(100, -1), 1, "big").any()


def test_ibm_words_that_do_not_survive_float32_are_flagged():
    words = np.array([[0x41100000, 0x00000000, 0x41100000],  # 1.0, +0: exact
                      [0x41100000, 0x80000000, 0x41100000],  # -0: segyio reads it as +0
                      [0x41100000, 0x42010000, 0x41100000],  # 0x42010000: leading hex digit 0
                      [0x41100000, 0x21100000, 0x41100000],  # exponent below float32's range
                      [0x41100000, 0x40000000, 0x41100000]], dtype=">u4")  # zero with an exponent
    values = decode(words, 1)
    flagged = lossy_rows(words, values, 1, "big")
    reencoded = np.any(encode(values, 1, "big") != words, axis=1)
    assert flagged.tolist() == [False, True, True, True, True] == reencoded.tolist()


def test_ibm_special_values():
    bits = ieee_to_ibm(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, 1e300]))
    assert bits[0] == 0 and bits[1] == 0x80000000
    assert bits[2] == 0x7FFFFFFF and bits[3] == 0xFFFFFFFF and bits[4] == 0x7FFFFFFF
    assert bits[5] == 0 and bits[6] == 0x7FFFFFFF


def test_float32_path_equals_the_general_one_bit_for_bit():
    """Stores hold float32, so export takes the integer path on their bits; it must give exactly
    the words of the float64 path (checked for all 2**32 patterns once; here a sample of them,
    every class: normals of every exponent, ties, carries, subnormals, zeros, inf and nan)."""
    from seisbatch.segy_format import _float32_to_ibm, _float_to_ibm

    rng = np.random.default_rng(7)
    bits = rng.integers(0, 2**32, size=1 << 20, dtype=np.uint64).astype(np.uint32)
    edges = np.array([0, 0x80000000, 1, 0x807FFFFF, 0x7FFFFF, 0x800000, 0x7F7FFFFF, 0x7F800000, 0xFF800000,
                      0x7FC00000, 0x3F800000, 0x3F7FFFFF, 0x4B7FFFFF, 0x4B7FFFFE, 0x3FFFFFFF], np.uint32)
    x = np.concatenate([bits, edges]).view(np.float32)
    with np.errstate(invalid="ignore"):
        want = _float_to_ibm(x)
    for step in (1 << 15, 1000):  # pieces with and without special values in them
        assert np.array_equal(_float32_to_ibm(x, step), want)
    grid = x[: 6 * 1000].reshape(2, 3, 1000)
    assert ieee_to_ibm(grid).shape == grid.shape and np.array_equal(ieee_to_ibm(grid).ravel(), want[: grid.size])
    assert ieee_to_ibm(np.float32([1.0, -0.0, np.inf])).tolist() == [0x41100000, 0x80000000, 0x7FFFFFFF]


def test_ibm_rounds_to_nearest():
    x = np.random.default_rng(1).normal(0, 100, 10_000).astype(np.float32)
    back = decode(ieee_to_ibm(x).astype(">u4"), 1)
    assert np.max(np.abs(back - x) / np.abs(x)) < 2.0**-21  # 21-bit worst case of hex normalisation


@pytest.mark.parametrize("fmt", [f for f in SAMPLE_FORMATS if f not in (1, 5, 6)])
def test_integer_formats_round_and_clip(fmt):
    info = np.iinfo(raw_dtype(fmt, "big"))
    out = encode(np.array([1.4, 1.6, -1e30, 1e30, np.nan]), fmt, "little")
    assert out.dtype == raw_dtype(fmt, "little")
    assert out.tolist() == [1, 2, info.min, info.max, 0]


def test_little_endian_ibm_decodes_like_big():
    x = np.array([1.0, -2.5, 3e-5], dtype=np.float32)
    little = encode(x, 1, "little")
    assert little.tobytes() == encode(x, 1, "big").byteswap().tobytes()
    assert np.array_equal(decode(little, 1), decode(encode(x, 1, "big"), 1))


@pytest.mark.parametrize("name", ["segysak_f3-withdead.sgy", "segyio_viking_small.segy", "gundih_2D_Xline_12680.sgy"])
def test_every_trace_header_field_equals_segyio(name, data_dir):
    """The one-pass header reader gives segyio's values for all 91 standard trace header fields."""
    import segyio

    from seisbatch import segy_reader

    src = str(data_dir / name)
    lay = segy_reader.scan(src, None)
    fields = sorted({int(f) for f in segyio.TraceField.enums()})
    ours = segy_reader.read_header_fields(lay, fields)
    # maps of 7 traces start off page boundaries, and the last one may hold a single trace
    small_maps = segy_reader.read_header_fields(lay, fields, traces_per_map=7)
    with segyio.open(src, "r", ignore_geometry=True, endian=lay.endian) as f:
        for b in fields:
            np.testing.assert_array_equal(ours[b], np.asarray(f.attributes(b)[:], dtype=np.int64), err_msg=f"byte {b}")
            np.testing.assert_array_equal(small_maps[b], ours[b], err_msg=f"byte {b}, 7 traces per map")
    one = segy_reader.read_header_fields(lay, fields, traces_per_map=lay.n_traces - 1)  # the last map: one trace
    assert all(np.array_equal(one[b], ours[b]) for b in fields)
    for start, stop in [(0, 1), (5, 18), (lay.n_traces - 3, lay.n_traces), (3, 3)]:  # ranges, as workers read them
        part = segy_reader.read_header_fields(lay, fields, traces_per_map=4, start=start, stop=stop)
        assert all(np.array_equal(part[b], ours[b][start:stop]) for b in fields), (start, stop)
    with pytest.raises(SeisbatchError, match="standard trace header field"):
        segy_reader.read_header_fields(lay, [190])


def test_header_scan_reports_progress_map_by_map(data_dir):
    """`info` on a large SEG-Y file shows how far its header scan is: one call per map, the last
    at the total, for a range as for the whole file."""
    from seisbatch import info, segy_reader

    src = str(data_dir / "segysak_f3-withdead.sgy")
    lay = segy_reader.scan(src, None)
    seen: list[tuple[int, int]] = []
    segy_reader.read_header_fields(lay, [189], traces_per_map=7, progress=lambda d, t: seen.append((d, t)))
    n = lay.n_traces
    assert seen == [(min(k, n), n) for k in range(7, n + 7, 7)]
    seen.clear()
    segy_reader.read_header_fields(lay, [189], traces_per_map=4, start=5, stop=18, progress=lambda d, t: seen.append((d, t)))
    assert seen == [(4, 13), (8, 13), (12, 13), (13, 13)]
    seen.clear()
    assert info.describe(src, progress=lambda d, t: seen.append((d, t)))["traces"] == n
    assert seen and seen[-1] == (n, n)
