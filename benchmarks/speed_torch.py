"""The PyTorch side of `benchmarks.speed`: one row's step in the port (eager or
torch.compile), its thread count, why a row skips torch.compile here, and forgetting
what a row compiled.
"""

from __future__ import annotations

import gc
import os
import time
from typing import TYPE_CHECKING

import jax

from benchmarks.measures import median_ms, on_gpu, torch_device, torch_sync

if TYPE_CHECKING:
    from benchmarks.speed import Case


def time_torch(case: Case, problem, params, sc, compiled: bool):
    """(compile s or None, run-one-step closure, peak bytes) of the PyTorch port.

    Peak bytes: inputs, parameters and every tensor autograd saves for the backward pass
    (all alive when the backward starts), counted once per storage."""
    import torch

    from benchmarks import torch_policies, torch_port

    dev = torch_device()
    port = torch_port.Port.from_invjax(problem, sc, device=dev)
    net = torch_policies.load_flax(case.torch_policy(problem).to(dev), params)
    step = compiled_period(port, net) if compiled else None
    graphs = compiled and compile_mode() == "reduce-overhead"
    begin = torch.compiler.cudagraph_mark_step_begin if graphs else (lambda: None)
    if case.train:
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def run():
            begin()
            loss = torch_port.hdpo_step(port, net, opt, step)
            torch_sync()
            return loss
    else:
        def run():
            begin()
            with torch.inference_mode():
                cost = torch_port.rollout(port, net, step)
            torch_sync()
            return cost

    start = time.perf_counter()
    run()
    first = time.perf_counter() - start
    steady = median_ms(run, 1) / 1e3
    compile_s = max(first - steady, 0.0)
    if on_gpu():
        torch.cuda.reset_peak_memory_stats()
        run()
        return compile_s, run, torch.cuda.max_memory_allocated()

    saved: dict = {}

    def pack(t):
        storage = t.untyped_storage()
        saved[storage.data_ptr()] = storage.nbytes()
        return t

    for t in [port.demand, port.store, port.warehouse, port.echelon, *port.p.values(),
              *net.parameters()]:
        pack(t)
    if case.train:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            torch_port.rollout(port, net, step)
    return compile_s, run, sum(saved.values())


def compile_mode() -> str:
    """torch.compile's mode for the compiled rows: on a GPU "reduce-overhead" (CUDA
    graphs: a period replays as one launch, the fair peer of XLA's one program per
    step), on a CPU inductor's default (CUDA graphs do not apply there)."""
    return "reduce-overhead" if on_gpu() else "default"


def compiled_period(port, net):
    """The port's one-period function (policy + dynamics) under torch.compile.

    Under CUDA graphs a replay writes its outputs into the buffers of the previous
    replay; the rollout keeps each period's state and cost past the next period (the
    state as the next input, both for the backward pass), so they are cloned out."""
    import torch

    from benchmarks import torch_port

    def one_period(state, demand):
        return torch_port.period(port, state, net(state, port), demand)

    mode = compile_mode()
    step = torch.compile(one_period, dynamic=False, mode=mode)
    if mode != "reduce-overhead":
        return step

    def cloned(state, demand):
        state, cost = step(state, demand)
        return tuple(x.clone() for x in state), cost.clone()

    return cloned


def pick_torch_threads(run) -> int:
    """Sets torch to its faster intra-op thread count for this row (1 or all cores) by
    timing one step with each, and returns it. On a loaded machine OpenMP's barriers
    make 2 threads many times slower than 1; on a quiet one 2 usually win."""
    import torch

    if on_gpu():
        return torch.get_num_threads()
    best = None
    for threads in sorted({1, os.cpu_count() or 1}):
        torch.set_num_threads(threads)
        ms = median_ms(run, 1)
        if best is None or ms < best[0]:
            best = (ms, threads)
    torch.set_num_threads(best[1])
    return best[1]


def compile_skipped(case: Case) -> str:
    """Why torch.compile is not tried on this row ("" where it is). A crash inside
    inductor's compiled code ends the process, past any try, and every later row."""
    if on_gpu():
        return ""
    if case.policy == "gnn":
        return ("skipped: the compiled backward of the port's GNN aborts the process on "
                "this CPU (torch 2.13.0: glibc 'corrupted size vs. prev_size')")
    if case.setting == "many_warehouses":  # the port's general-network period
        return ("skipped: on this CPU (torch 2.13.0) the compiled general-network period "
                "failed ('Cannot access data pointer of Storage that is invalid') or "
                "ended the process (a general protection fault in libc)")
    return ""


def release(torch) -> None:
    """Forgets what a row compiled: torch.compile's graphs and JAX's programs.

    Every row compiles the same one-period function (one code object), and dynamo
    counts each compile against its recompile limit (8): past it, torch.compile falls
    back to eager after one log warning, so later rows timed eager torch under the
    compiled label (compiled ms equalled eager ms). It also frees memory that piled up
    row after row."""
    torch._dynamo.reset()
    jax.clear_caches()
    gc.collect()
