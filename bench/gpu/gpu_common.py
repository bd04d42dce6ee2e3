"""Helpers shared by the GPU benchmark's Python side (dit_reference.py, models_reference.py)."""
import json
import statistics
import time

import torch


def log(**kw):
    """One JSON object per line on stdout (what bench/gpu/run.sh collects)."""
    print(json.dumps(kw), flush=True)


def sync(dev):
    if dev.type == 'cuda':
        torch.cuda.synchronize()


def reset_peak(dev):
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()


def peak(dev):
    return torch.cuda.max_memory_allocated() if dev.type == 'cuda' else 0


def times_ms(fn, dev, warmup=3, reps=15):
    """Wall time of each of `reps` calls of fn after `warmup` untimed ones, the device synchronised around each."""
    for _ in range(warmup):
        fn()
    sync(dev)
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        sync(dev)
        ts.append((time.perf_counter() - t0) * 1e3)
    return ts


def median_min_ms(fn, dev, warmup=3, reps=15):
    ts = times_ms(fn, dev, warmup, reps)
    return statistics.median(ts), min(ts)
