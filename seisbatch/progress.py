"""Progress bars for long work, fed by (done, total) callbacks; used by the CLI and the demo."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any


def bar(desc: str, quiet: bool, unit: str = "task",
              delay: float = 0.0) -> tuple[Callable[[int, int], None] | None, Callable[[], None]]:
    """A tqdm bar fed by (done, total) callbacks, and its closer; with ``delay``, shown only once
    the work has taken that many seconds (a quick look stays quiet)."""
    if quiet:
        return None, lambda: None
    from tqdm import tqdm

    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "bar" not in bar:
            bar["bar"] = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True, delay=delay,
                              unit_scale=unit != "task")
        if delay:
            bar["bar"].update(done - bar["bar"].n)  # shown only once ``delay`` has passed
        else:
            bar["bar"].n = done
            bar["bar"].refresh()
        if done >= total:  # finished: the line stays, and the next phase's bar starts below it
            bar["bar"].close()

    return update, lambda: bar["bar"].close() if "bar" in bar else None
