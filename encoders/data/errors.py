"""Errors raised by the dataset loaders and the recording reader/writer."""

from __future__ import annotations

from pathlib import Path


class DatasetError(ValueError):
    """A dataset or recording file is missing, unreadable or malformed.

    The message always names the offending file so a broken download or a hand-edited
    recording can be fixed without a debugger.
    """

    def __init__(self, path: Path | str, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
