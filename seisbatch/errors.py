"""The one exception type users see: it always names the file and what is wrong with it."""

from __future__ import annotations

import os


class SeisbatchError(Exception):
    """An error the user can fix: bad input, inconsistent geometry, an output in the way."""

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = None if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}" if self.path else problem)
