"""Run callables in real OS processes (fork), released together by a barrier.

Each child closes the inherited connections first (it must never share the parent's socket or
SQLite handle), opens its own, and closes it before exiting with os._exit (no pytest teardown)."""

from __future__ import annotations

import multiprocessing
import os
import traceback
from collections.abc import Callable

from django.db import connections


def run_in_processes(target: Callable[[int], object], count: int, timeout: float = 60) -> list[object]:
    """Call target(worker_index) in `count` processes; return each child's result or raise the
    first child's error (with its traceback)."""
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(count)
    queue = ctx.Queue()
    connections.close_all()

    def child(index: int) -> None:
        code = 0
        try:
            for conn in connections.all(initialized_only=True):
                conn.inc_thread_sharing()
                conn.close()
                conn.dec_thread_sharing()
            barrier.wait(timeout=60)
            queue.put((index, "ok", target(index)))
        except BaseException:
            queue.put((index, "error", traceback.format_exc()))
            code = 1
        finally:
            connections.close_all()
            queue.close()
            queue.join_thread()  # flush the result before os._exit skips the feeder thread
            os._exit(code)

    processes = [ctx.Process(target=child, args=(i,)) for i in range(count)]
    for process in processes:
        process.start()
    results: dict[int, object] = {}
    errors: list[str] = []
    for _ in processes:
        index, status, payload = queue.get(timeout=timeout)
        if status == "ok":
            results[index] = payload
        else:
            errors.append(f"worker {index}:\n{payload}")
    for process in processes:
        process.join(timeout=timeout)
    if errors:
        raise AssertionError("\n".join(errors))
    return [results[i] for i in range(count)]
