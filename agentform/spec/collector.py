"""Pausing Python's cyclic garbage collector while a spec is loaded.

Loading a large spec allocates millions of small objects (YAML nodes, marks, locations, path
tuples) that all stay alive until loading ends. Each allocation burst makes the cyclic collector
scan the ever-growing heap, which turns linear work quadratic: a 10,000-agent spec took 40 s
with the collector on and a few seconds with it paused. Nothing built here forms reference
cycles that need collecting early, so the collector is paused for the duration and restored
after (reference counting still frees everything as usual). Used by the loader entry points.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["paused_collector"]


@contextmanager
def paused_collector() -> Iterator[None]:
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            # what loading built is alive until the caller drops it: keep the collector from
            # scanning it all again on its next full pass
            gc.freeze()
            gc.enable()
