"""Where the bench writes: figures to stdout, progress to stderr so the figures can be piped clean."""

from __future__ import annotations

import sys


def out(text: str = "") -> None:
    print(text, flush=True)  # noqa: T201 - printing the figures is what a benchmark is for


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)  # noqa: T201 - progress of a run that takes minutes
