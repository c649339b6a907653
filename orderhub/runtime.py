"""Process-level tuning for OrderHub's long-running servers (web workers, drainers)."""

from __future__ import annotations

import contextlib
import gc

from django.conf import settings

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


def warm_up() -> None:
    """Do before the web workers fork what each worker's first request did: build the URL resolvers'
    tables (every pattern compiled, the reverse table of every namespace and language), import every
    marketplace adapter and each cache's backend.
    Why: a worker's first push cost 63 ms instead of 1 (50 of them reversing the webhook's route for
    the fast lane), 300–400 ms under a flash sale's load, while the worker's other threads waited; a
    deploy or a worker's restart during a sale made those the slowest answers of the sale. Done once
    in the master (gunicorn --preload), the tables are shared by every worker."""
    from django.urls import get_resolver
    from django.utils import translation
    from django.utils.module_loading import import_string

    from orders.channels import ADAPTER_MODULES, adapter_class

    for language, _name in settings.LANGUAGES:
        with translation.override(language):
            get_resolver().reverse_dict  # noqa: B018 — populates the active language's table
            _reverse_in_every_namespace(get_resolver(), "")
    for platform in ADAPTER_MODULES:
        adapter_class(platform)
    for cache in settings.CACHES.values():
        import_string(cache["BACKEND"])


def _reverse_in_every_namespace(resolver, prefix: str) -> None:
    """Reverse one name of each namespace (admin:, …): reverse() builds and caches a resolver of its
    own per namespace (django.urls.resolvers.get_ns_resolver) and fills its table on first use. The
    name's arguments do not matter: the table is built before the match is tried."""
    from django.urls import NoReverseMatch, reverse

    for namespace, (_pattern, sub) in resolver.namespace_dict.items():
        name = next((key for key in sub.reverse_dict if isinstance(key, str)), None)
        if name is not None:
            with contextlib.suppress(NoReverseMatch):
                reverse(f"{prefix}{namespace}:{name}")
        _reverse_in_every_namespace(sub, f"{prefix}{namespace}:")
