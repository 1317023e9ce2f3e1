"""Settings of ``seisbatch convert``, ``train`` and ``adapt``, in one place: each value is checked
when a spec is built, before any work or cluster; the CLI takes its defaults from here; and this
module imports no Keras, so ``seisbatch --help`` stays quick. (``DenoiseSpec`` lives with its
runner, ``seisbatch.denoise``, as it resolves the settings file.)"""

from __future__ import annotations

from dataclasses import dataclass

from . import store
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

    def __post_init__(self) -> None:
        for name, least in (("epochs", 1), ("batch_size", 1), ("depth", 2), ("filters", 1), ("n_test", 1),
                            ("steps_per_epoch", 1), ("recalibrate_bn", 0)):
            value = getattr(self, name)
            if value is not None and value < least:
                raise ValueError(f"{name.replace('_', '-')} must be at least {least}, not {value}")
        if not self.learning_rate > 0:
            raise ValueError(f"learning rate must be positive, not {self.learning_rate}")
