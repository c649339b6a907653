"""Process-level tuning for OrderHub's long-running servers (web workers, drainers)."""

from __future__ import annotations

import gc

#: a web worker's collector thresholds (Python's default: 700, 10, 10); see tune_gc
WEB_GC_THRESHOLDS = (5_000, 10, 10)


def tune_gc(thresholds: tuple[int, int, int]) -> None:
    """Freeze what start-up allocated (Django, the apps, URL patterns, rules) out of the cyclic
    collector, and collect the youngest generation every `thresholds[0]` allocations instead of 700.
    Why: every young collection also ages survivors into scans of the older generations, and a
    process that keeps tens of thousands of start-up objects rescans them all; a request or a batch
    allocates far more than 700 short-lived objects. Measured in the flash sale (bench/flash_sale.py):
    web CPU per push 1.70 → 1.49–1.55 ms. Frozen before gunicorn forks (--preload), the objects also
    stay shared between workers (no copy-on-write when a collection touches them). Call once, after
    start-up, in a long-running process."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*thresholds)
