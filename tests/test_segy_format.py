"""Sample codecs: IBM encoding against segyio's decoder, integer clipping, special values."""

import numpy as np
import pytest

from seisbatch.segy_format import SAMPLE_FORMATS, decode, encode, ieee_to_ibm, raw_dtype


def test_ibm_known_values():
    # Classic reference values: 1.0, -118.625 and 0.15625 in IBM single precision.
    bits = ieee_to_ibm(np.array([1.0, -118.625, 0.15625], dtype=np.float32))
    assert bits.tolist() == [0x41100000, 0xC276A000, 0x40280000]


def test_ibm_roundtrip_is_exact_for_normalised_values():
    rng = np.random.default_rng(0)
    sign = rng.integers(0, 2, 200_000).astype(np.uint32) << 31
    exp = rng.integers(64 - 20, 64 + 20, 200_000).astype(np.uint32) << 24
    frac = rng.integers(0x100000, 0x1000000, 200_000).astype(np.uint32)  # leading hex digit non-zero
    bits = (sign | exp | frac).astype(">u4")
    values = decode(bits, 1)
    assert np.array_equal(encode(values, 1, "big"), bits)


def test_ibm_special_values():
    bits = ieee_to_ibm(np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300, 1e300]))
    assert bits[0] == 0 and bits[1] == 0x80000000
    assert bits[2] == 0x7FFFFFFF and bits[3] == 0xFFFFFFFF and bits[4] == 0x7FFFFFFF
    assert bits[5] == 0 and bits[6] == 0x7FFFFFFF


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
