"""Settings of ``seisbatch convert``, ``denoise``, ``train`` and ``adapt``, in one place: each
value is checked when a spec is built, before any work or cluster; the CLI takes its defaults
from here (``DenoiseSpec``'s from the settings file); and this module imports no Keras, so
``seisbatch --help`` stays quick."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from . import config, fx, store, tiling
from .model import DEPTH, FILTERS
from .geometry import KINDS as GEOMETRIES
from .segy_format import TH_CDP, TH_CHANNEL, TH_CROSSLINE, TH_INLINE, TH_OFFSET, TH_SHOT

HEADER_BYTES = ("inline_byte", "crossline_byte", "offset_byte", "cdp_byte", "shot_byte", "channel_byte")
SAMPLE_UNITS = ("ms", "m", "ft")


@dataclass(frozen=True)
class ConvertSpec:
    """The options of ``seisbatch convert``, every value checked when built, before any cluster
    starts; ``compression`` defaults to the setting, ``checksum`` None means the setting (SEG-Y and
    HDF5; asking for it on an MDIO store is an error)."""

    chunks: tuple[int, ...] | None = None  # None: settings convert.chunks-3d / chunks-2d
    compression: str | None = None
    checksum: bool | None = None
    geometry: str = "auto"  # SEG-Y
    endian: str | None = None  # SEG-Y: None detects it
    inline_byte: int = TH_INLINE
    crossline_byte: int = TH_CROSSLINE
    offset_byte: int = TH_OFFSET  # pre-stack gathers: the offset, CMP number, shot and channel
    cdp_byte: int = TH_CDP
    shot_byte: int = TH_SHOT
    channel_byte: int = TH_CHANNEL
    offset_bins: float | None = None  # bin offsets to this width (None: the offsets present)
    sample_units: str = "ms"
    dataset: str | None = None  # HDF5
    axes: str | None = None  # HDF5
    sample_interval: float = 4.0  # HDF5

    def __post_init__(self) -> None:
        if self.chunks is not None and (not self.chunks or min(self.chunks) < 1):
            raise ValueError(f"--chunks sizes must be positive, got {','.join(map(str, self.chunks))}")
        object.__setattr__(self, "compression", store.compression_name(self.compression))
        if self.geometry not in GEOMETRIES:
            raise ValueError(f"geometry must be one of {', '.join(GEOMETRIES)}, not {self.geometry!r}")
        if self.endian not in (None, "big", "little"):
            raise ValueError(f"endian must be big or little, not {self.endian!r}")
        if self.offset_bins is not None and not self.offset_bins > 0:
            raise ValueError(f"--offset-bins must be positive, not {self.offset_bins}")
        for name in HEADER_BYTES:
            if not 1 <= getattr(self, name) <= 237:  # a 4-byte field inside the 240-byte trace header
                raise ValueError(f"--{name.replace('_', '-')} must lie in 1..237, not {getattr(self, name)}")
        if self.sample_units not in SAMPLE_UNITS:
            raise ValueError(f"sample units must be one of {', '.join(SAMPLE_UNITS)}, not {self.sample_units!r}")
        if not self.sample_interval > 0:
            raise ValueError(f"--sample-interval must be positive, not {self.sample_interval}")


LOSSES = ("recorrupted", "blind-spot", "blind-trace")
WARMUP_STEPS = 20


@dataclass(frozen=True)
class AdaptSpec:
    """Settings of an adaptation; every field is a ``seisbatch adapt`` option."""

    loss: str = "recorrupted"
    epochs: int = 4
    patches: int = 1600  # per epoch: 100 steps of 16
    batch_size: int = 16
    learning_rate: float = 3e-4  # Adam, the peak of the schedule
    schedule: str = "cosine"  # warm-up then cosine decay over all epochs, or "constant"
    alpha: float = 0.5  # recorrupted: strength of the recorruption
    sigma: float | None = None  # recorrupted: noise std in scaled units (None: from the base model)
    spectrum: str = "estimated"  # recorrupted: z coloured like the removed noise ("estimated") or "white"
    mask_fraction: float = 0.02  # blind-spot: share of samples masked; blind-trace: share of traces
    seed: int = 0
    direction: str = "inline"

    def __post_init__(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r} ({', '.join(LOSSES)})")
        for name in ("epochs", "patches", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name.replace('_', '-')} must be at least 1, not {getattr(self, name)}")
        if not self.learning_rate > 0 or not self.alpha > 0 or (self.sigma is not None and not self.sigma > 0):
            raise ValueError("learning rate, alpha and sigma must be positive")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"schedule must be cosine or constant, not {self.schedule!r}")
        if self.spectrum not in ("estimated", "white"):
            raise ValueError(f"spectrum must be estimated or white, not {self.spectrum!r}")
        if not 0 < self.mask_fraction <= 0.5:
            raise ValueError(f"mask fraction must lie in (0, 0.5], not {self.mask_fraction}")
        if self.direction not in ("inline", "crossline"):
            raise ValueError(f"direction must be inline or crossline, not {self.direction!r}")


@dataclass(frozen=True)
class TrainSpec:
    """The recipe; every field is a command-line option of ``seisbatch train``."""

    epochs: int = 50
    batch_size: int = 32
    learning_rate: float = 1e-3
    shuffle: bool = True
    seed: int = 0
    depth: int = DEPTH
    filters: int = FILTERS
    n_test: int | None = None  # default: the dataset's own n_test attribute, else 1000
    steps_per_epoch: int | None = None  # default: every training patch once per epoch
    mixed_precision: bool = False
    recalibrate_bn: int = 0  # batches to re-estimate BatchNorm statistics over after training
    init: str | None = None  # start from this model's weights (fine-tuning) instead of random ones
    prefetch: int = 2  # batches read ahead from HDF5 by a thread while the model trains (0: none)
    steps_per_execution: int = 1  # training steps per call into the backend (more: less dispatch on a GPU)

    def __post_init__(self) -> None:
        for name, least in (("epochs", 1), ("batch_size", 1), ("depth", 2), ("filters", 1), ("n_test", 1),
                            ("steps_per_epoch", 1), ("recalibrate_bn", 0), ("prefetch", 0),
                            ("steps_per_execution", 1)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"{name.replace('_', '-')} must be at least {least}, not {value}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be positive, not {self.learning_rate}")


def _setting(key: str, convert=lambda v: v):
    """A dataclass default read from the settings (seisbatch.denoise.KEY) when a spec is made."""
    return field(default_factory=lambda: convert(config.get(f"denoise.{key}")))


def _pair(v) -> tuple[int, int]:
    return tuple(int(x) for x in v)  # type: ignore[return-value]


def _opt_int(v) -> int | None:
    return None if v is None else int(v)


PRECISIONS = ("float32", "bfloat16", "float16")
METHODS = ("dncnn", "fx")
DEFAULT_OUTPUT = {"dncnn": "denoised", "fx": "fxdecon"}


def _opt_bool(v) -> bool | None:
    if v is None or isinstance(v, bool):
        return v
    if str(v).lower() in ("true", "1", "yes", "on"):
        return True
    if str(v).lower() in ("false", "0", "no", "off"):
        return False
    raise ValueError(f"restore must be true, false or null, not {v!r}")


def _output_default(v) -> str:
    return "" if v is None else str(v)  # "": the method's own name (DEFAULT_OUTPUT)


@dataclass(frozen=True)
class DenoiseSpec:
    """Everything that determines the output; a rerun must match it to resume. Defaults come from
    the settings (``seisbatch.yaml``, Dask config files, DASK_SEISBATCH__DENOISE__* variables)."""

    method: str = _setting("method", str)  # dncnn | fx
    output: str = _setting("output", _output_default)  # "": DEFAULT_OUTPUT[method]
    fx_filter: int = _setting("fx-filter", int)
    fx_window: tuple[int, int] = _setting("fx-window", lambda v: _pair(v))
    fx_damping: float = _setting("fx-damping", float)
    direction: str = _setting("direction", str)
    domain: str | None = _setting("domain")  # gathers: "gather" (each gather a section; None means it) or "offset"
    restore: bool | None = _setting("restore", _opt_bool)  # put back the signal left in the noise (None: gathers)
    tile: tuple[int, int] = _setting("tile", _pair)  # halo overhead ~10% on large sections; ~1 GB per worker at batch 2
    halo: int | None = _setting("halo", _opt_int)  # None: the model's receptive radius (exact crop blending)
    blend: str = _setting("blend", str)
    batch_size: int = _setting("batch-size", int)
    device: str = _setting("device", str)  # auto | cpu | gpu
    precision: str = _setting("precision", str)  # float32 | bfloat16 | float16 (compute dtype; weights float32)
    subset: tuple[tuple[str, float, float], ...] = ()  # a trial: (dim, first, last) coordinate ranges
    engine: str = _setting("engine", str)  # auto | keras | onnx | jax (seisbatch.engines)

    def __post_init__(self) -> None:
        """Every value checked here, at the boundary, before any cluster starts: a bad one is a
        one-line error, never a traceback from a worker."""
        if self.method not in METHODS:
            raise ValueError(f"unknown method {self.method!r} ({' or '.join(METHODS)})")
        if not self.output:
            object.__setattr__(self, "output", DEFAULT_OUTPUT[self.method])
        choices = {"direction": ("inline", "crossline"), "blend": ("crop", "taper"), "device": ("auto", "cpu", "gpu"),
                   "precision": PRECISIONS, "engine": ("auto", "keras", "onnx", "jax")}
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be {' or '.join(allowed)}, not {getattr(self, name)!r}")
        if len(self.tile) != 2 or min(self.tile) < 1:
            raise ValueError(f"tile must be two positive sizes TRACES,SAMPLES, not {','.join(map(str, self.tile))}")
        allowed = {"onnx": ("float32", "float16"), "jax": ("float32", "bfloat16")}.get(self.engine, PRECISIONS)
        if self.precision not in allowed:
            raise ValueError(f"the {self.engine} engine computes in {' or '.join(allowed)}, not {self.precision}")
        if self.domain is not None and self.domain not in tiling.DOMAINS:
            raise ValueError(f"domain must be {' or '.join(tiling.DOMAINS)}, not {self.domain!r}")
        if self.halo is not None and self.halo < 0:
            raise ValueError(f"halo must not be negative, not {self.halo}")
        if self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {self.batch_size}")
        for dim, lo, hi in self.subset:
            if not lo <= hi:
                raise ValueError(f"subset {dim} {lo:g}:{hi:g}: the first value must not exceed the last")
        if self.method == "fx":
            self.fx_spec()  # checked by FxSpec

    def fx_spec(self) -> fx.FxSpec:
        """The f-x settings of a ``method="fx"`` run (checked by :class:`fx.FxSpec`)."""
        return fx.FxSpec(filter_length=self.fx_filter, window_traces=self.fx_window[0],
                         window_samples=self.fx_window[1], damping=self.fx_damping)

    def params(self) -> dict:
        """The parameters that determine the output (the other method's settings left out)."""
        d = asdict(self)
        d.pop("subset")  # a trial computes some blocks of the same output; the full run resumes from them
        if d["engine"] in ("auto", "keras"):  # the engine that made every output before engines existed
            d.pop("engine")
        if self.method == "fx":
            for k in ("batch_size", "device", "precision", "blend", "halo", "engine"):
                d.pop(k, None)
        else:
            for k in ("fx_filter", "fx_window", "fx_damping"):
                d.pop(k)
        return d
