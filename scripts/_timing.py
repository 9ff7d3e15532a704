"""Timing helpers shared by the benchmark scripts (run them as ``python scripts/<name>.py``)."""

import statistics
import time


def interleaved_times(funcs, repeats):
    """Wall times of each function, ``repeats`` of each, after one warm-up call each.

    The runs are interleaved (one of each per round, ABAB...), so a change of load on a
    shared machine hits all the functions alike and their ratios stay meaningful.
    Returns one list of ``repeats`` times per function.
    """
    for func in funcs:
        func()  # warm up: imports, caches, FFT plans, page faults
    times = [[] for _ in funcs]
    for _ in range(repeats):
        for func, record in zip(funcs, times, strict=True):
            start = time.perf_counter()
            func()
            record.append(time.perf_counter() - start)
    return times


def interleaved_medians(funcs, repeats):
    """Median wall time of each function, timed as :func:`interleaved_times` does."""
    return [statistics.median(record) for record in interleaved_times(funcs, repeats)]


def median_seconds(func, repeats):
    """Median wall time of ``func`` over ``repeats`` runs after one warm-up call."""
    return interleaved_medians([func], repeats)[0]
