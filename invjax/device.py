"""What a run ran on, in words: recorded in every summary and benchmark result."""

from __future__ import annotations

import os
import platform

import jax


def cpu() -> str:
    """The host processor's model name and core count."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            name = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return f"cpu: {name}, {os.cpu_count()} cores"


def describe() -> str:
    """JAX's default device, e.g. 'gpu: NVIDIA H200 (host cpu: ..., 16 cores)', or the
    host alone when that is the CPU."""
    device = jax.devices()[0]
    if device.platform == "cpu":
        return cpu()
    return f"{device.platform}: {device.device_kind} (host {cpu()})"
