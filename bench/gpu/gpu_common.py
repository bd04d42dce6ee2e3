"""Helpers shared by the GPU benchmark's Python side (dit_reference.py, models_reference.py)."""
import json
import statistics
import threading
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


class DevicePeak:
    """The whole device's used memory (cudaMemGetInfo: every allocator, the CUDA context
    included), polled every 2 ms from a thread while the block runs: the same figure the
    TypeScript GPU bench reads through Engine.memoryStats()."""

    def __init__(self):
        self.peak = 0

    @staticmethod
    def used():
        free, total = torch.cuda.mem_get_info()
        return total - free

    def __enter__(self):
        self.peak = self.used()
        self._stop = threading.Event()

        def poll():
            while not self._stop.is_set():
                self.peak = max(self.peak, self.used())
                time.sleep(0.002)

        self._t = threading.Thread(target=poll, daemon=True)
        self._t.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, self.used())
        return False
