"""The one exception type users see: it always names the file and what is wrong with it."""

from __future__ import annotations

import os
import re


class SeisbatchError(Exception):
    """An error the user can fix: bad input, inconsistent geometry, an output in the way."""

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)


_RUST_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def as_os_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` when it is one in disguise, else None: zarrs (Rust) reports a
    failed read or write as RuntimeError('No space left on device (os error 28)')."""
    if isinstance(exc, OSError):
        return exc
    m = _RUST_OS_ERROR.search(str(exc)) if isinstance(exc, RuntimeError) else None
    if m is None:
        return None
    code = int(m.group(1))
    return OSError(code, os.strerror(code))
