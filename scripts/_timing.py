"""Timing helpers shared by the benchmark scripts (run them as ``python scripts/<name>.py``)."""

import statistics
import time


def interleaved_medians(funcs, repeats):
    """Median wall time of each function after one warm-up call each.

    The runs are interleaved (one of each per round), so a change of load on a shared
    machine hits all the functions alike and their ratios stay meaningful.
    """
    for func in funcs:
        func()  # warm up: imports, caches, FFT plans, page faults
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for func, record in zip(funcs, times, strict=True):
            start = time.perf_counter()
            func()
            record.append(time.perf_counter() - start)
    return [statistics.median(record) for record in times]


def median_seconds(func, repeats):
    """Median wall time of ``func`` over ``repeats`` runs after one warm-up call."""
    return interleaved_medians([func], repeats)[0]
