"""The SEG-Y format: header sizes and the byte positions seisbatch uses, and the sample formats
(decoding raw trace samples to float32 and encoding them back).

Decoding of IBM floats uses segyio's C routine; everything else is a numpy view. Encoding is done
here because segyio exposes no public float-to-IBM routine. IBM -> IEEE -> IBM is exact for every
normalised IBM value inside float32's range; anything else is kept raw by the converter.
"""

from __future__ import annotations

import numpy as np
import segyio
import segyio._segyio  # noqa: F401  (tools.native needs the C module loaded)

TEXT_SIZE = 3200  # textual file header (and each extended one), bytes
BINARY_SIZE = 400
FILE_HEADER_SIZE = TEXT_SIZE + BINARY_SIZE
TRACE_HEADER_SIZE = 240

# Byte positions (1-based, as in the SEG-Y standard) used by seisbatch.
BIN_INTERVAL = 3217
BIN_SAMPLES = 3221
BIN_FORMAT = 3225
BIN_MEASUREMENT = 3255  # measurement system of coordinates and depths: 1 metres, 2 feet
BIN_BYTE_ORDER = 3297
BIN_EXT_HEADERS = 3505
TH_SCALCO = 71
TH_DELAY = 109
TH_SAMPLES = 115
TH_INTERVAL = 117
TH_CDP_X = 181
TH_CDP_Y = 185
TH_CHANNEL = 13  # trace number within the field record: a shot gather's channel
TH_SHOT = 17  # energy source point number: the shot
TH_CDP = 21  # ensemble (CDP) number
TH_OFFSET = 37  # source-receiver offset, as segyio's `offset` field
TH_INLINE = 189  # the standard's inline and crossline positions, the defaults of --inline-byte/--crossline-byte
TH_CROSSLINE = 193

#: format code -> (numpy kind and width, human name). Format 4 (fixed point with gain) and 7/15
#: (3-byte integers) are not read by segyio and are refused.
SAMPLE_FORMATS: dict[int, tuple[str, str]] = {
    1: ("u4", "4-byte IBM float"),
    2: ("i4", "4-byte signed integer"),
    3: ("i2", "2-byte signed integer"),
    5: ("f4", "4-byte IEEE float"),
    6: ("f8", "8-byte IEEE float"),
    8: ("i1", "1-byte signed integer"),
    9: ("i8", "8-byte signed integer"),
    10: ("u4", "4-byte unsigned integer"),
    11: ("u2", "2-byte unsigned integer"),
    12: ("u8", "8-byte unsigned integer"),
    16: ("u1", "1-byte unsigned integer"),
}

#: Formats whose every value is exactly representable in float32, so no raw copy is ever needed.
EXACT_IN_FLOAT32 = {3, 5, 8, 11, 16}


def sample_size(fmt: int) -> int:
    """Bytes per sample of a supported format code."""
    return np.dtype(SAMPLE_FORMATS[fmt][0]).itemsize


def raw_dtype(fmt: int, endian: str) -> np.dtype:
    """The numpy dtype that reads the file's sample bytes as they are (IBM as its bit pattern)."""
    order = ">" if endian == "big" else "<"
    return np.dtype(order + SAMPLE_FORMATS[fmt][0])


def decode(raw: np.ndarray, fmt: int) -> np.ndarray:
    """Raw samples (dtype from :func:`raw_dtype`) to a new native float32 array."""
    if fmt == 1:
        big = raw.astype(">u4", copy=True)  # segyio's native() expects big-endian IBM words
        return segyio.tools.native(big.view(np.float32), format=1, copy=False)
    return raw.astype(np.float32)


def _ibm_exact_high() -> np.ndarray:
    """For each top-16-bit pattern of an IBM word: normalised, exponent inside float32's range."""
    h = np.arange(1 << 16, dtype=np.uint32)
    exp = (h >> 8) & 0x7F
    return ((h & 0x00F0) != 0) & (exp >= 34) & (exp <= 95)


_IBM_EXACT_HIGH = _ibm_exact_high()


def lossy_rows(raw: np.ndarray, values: np.ndarray, fmt: int, endian: str) -> np.ndarray:
    """Which traces (rows) would not be written back bit for bit from their float32 ``values``.

    IBM words survive exactly when normalised (leading hex digit non-zero) with an exponent inside
    float32's normal range, or when they are +0; int32 values when |v| <= 2**24. Other formats
    are checked by re-encoding.
    """
    if fmt == 1:
        big = raw.dtype.byteorder == ">" or (raw.dtype.byteorder == "=" and not np.little_endian)
        first = 0 if big else 1  # position of the top 16 bits among the word's two halves
        high = raw.view((">" if big else "<") + "u2")[..., first::2]
        suspect = ~np.all(_IBM_EXACT_HIGH[high], axis=-1)
        if suspect.any():  # the only other exact word is +0 (segyio decodes -0 as +0)
            suspect[suspect] = ~np.all(_IBM_EXACT_HIGH[high[suspect]] | (raw[suspect] == 0), axis=-1)
        return suspect
    if fmt == 2:
        return np.any(np.abs(raw.astype(np.int64)) > (1 << 24), axis=-1)
    return np.any(encode(values, fmt, endian) != raw, axis=-1)


def ieee_to_ibm(values: np.ndarray) -> np.ndarray:
    """float32/float64 values to IBM single-precision bit patterns (uint32), rounded to nearest.

    Zero keeps its sign, non-finite values and overflows saturate to the largest IBM magnitude,
    underflows become zero. float32 input (every store's amplitudes) takes a path on its bits,
    ~10x faster than the general one and equal to it for every float32 (checked exhaustively).
    """
    if isinstance(values, np.ndarray) and values.dtype == np.float32:
        return _float32_to_ibm(values)
    return _float_to_ibm(values)


def _float32_to_ibm(values: np.ndarray, step: int = 1 << 15) -> np.ndarray:
    """IBM words of float32 values, from their bits: a normal float32 is M * 2**(e - 150) with a
    24-bit M; IBM holds F * 16**(E - 64) / 2**24, so F is M shifted right by r = (2 - e) mod 4
    bits (rounded half to even, as np.rint in the general path) and E = (e + 130 + r) / 4, always
    inside IBM's range. In-place integer steps over cache-sized pieces of ``step`` samples: ~10x
    faster than the general path. Zeros, inf/nan and subnormals (rare) are set apart."""
    u = np.uint32
    flat = np.ascontiguousarray(values).reshape(-1).view(u)
    out = np.empty_like(flat)
    for i in range(0, flat.size, step):
        b = flat[i : i + step]
        e = b >> u(23)
        e &= u(0xFF)
        m = b & u(0x7FFFFF)
        m |= u(0x800000)
        r = u(2) - e
        r &= u(3)
        low = np.left_shift(u(1), r)  # 2**r; the bits shifted out are below it
        bias = low >> u(1)  # half of 2**r, less one, plus the kept lowest bit: round half to even ...
        bias -= u(1)
        bias += (m >> r) & u(1)
        low -= u(1)
        bias &= low  # ... and nothing when r is 0
        m += bias
        m >>= r
        carry = m >> u(24)  # rounded up to 16**1: one hex digit more
        m >>= carry * u(4)
        special = e.min() == 0 or e.max() == 0xFF
        code = e if not special else e.copy()
        code += u(130)
        code += r
        code >>= u(2)
        code += carry
        code <<= u(24)
        code |= m
        if special:
            code[e == 0xFF] = 0x7FFFFFFF  # inf, nan: the largest magnitude
            zero = e == 0
            code[zero] = 0
            sub = zero & ((b & u(0x7FFFFF)) != 0)
            if sub.any():
                code[sub] = _float_to_ibm(b[sub].view(np.float32)) & u(0x7FFFFFFF)
        code |= b & u(0x80000000)
        out[i : i + step] = code
    return out.reshape(np.shape(values))


def _float_to_ibm(values: np.ndarray) -> np.ndarray:
    """IBM words of any float values, through float64."""
    x = np.asarray(values, dtype=np.float64)
    sign = np.where(np.signbit(x), np.uint32(0x80000000), np.uint32(0))
    mag = np.abs(x)
    finite = np.isfinite(mag)
    frac, exp2 = np.frexp(np.where(finite, mag, 0.0))  # mag = frac * 2**exp2, frac in [0.5, 1)
    exp16 = -((-exp2) // 4)  # ceil(exp2 / 4)
    shift = 4 * exp16 - exp2  # 0..3 bits lost to hexadecimal normalisation
    mant = np.rint(np.ldexp(frac, 24 - shift)).astype(np.int64)
    carry = mant >= (1 << 24)
    mant = np.where(carry, mant >> 4, mant)
    exp16 = exp16 + carry
    biased = exp16 + 64
    bits = (biased.astype(np.int64) << 24) | mant
    bits = np.where(mag == 0, 0, bits)
    bits = np.where(biased < 0, 0, bits)
    bits = np.where((biased > 127) | ~finite, 0x7FFFFFFF, bits)
    return (bits.astype(np.uint32) | sign).astype(np.uint32)


def encode(values: np.ndarray, fmt: int, endian: str) -> np.ndarray:
    """float values to raw samples of ``fmt`` in the file's byte order.

    Integer formats round to nearest and clip to the type's range, so a processed volume always
    fits the original format.
    """
    target = raw_dtype(fmt, endian)
    if fmt == 1:
        return ieee_to_ibm(values).astype(target)
    if target.kind == "f":
        return np.asarray(values).astype(target)
    info = np.iinfo(target)
    v = np.rint(np.nan_to_num(np.asarray(values, dtype=np.float64), nan=0.0, posinf=np.inf, neginf=-np.inf))
    hi = np.nextafter(float(info.max), 0.0) if float(info.max) > info.max else float(info.max)  # 2**63-1 rounds up
    out = np.clip(v, float(info.min), hi).astype(target)
    out[v >= float(info.max)] = info.max
    return out
