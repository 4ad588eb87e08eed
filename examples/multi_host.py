"""HDPO on the devices of several processes (hosts): one global mesh, sharded scenarios.

Every process runs this same script; `jax.distributed.initialize` connects them, the
mesh spans all their devices, and each process simulates only the scenarios on its own
devices. Parameters are replicated, so every process prints the same losses.

Two processes on this machine, two CPU devices each (one line per terminal):

    JAX_PLATFORMS=cpu python examples/multi_host.py --coordinator 127.0.0.1:12345 \
        --num-processes 2 --process-id 0 --cpu-devices 2 --set trainer.epochs=10
    JAX_PLATFORMS=cpu python examples/multi_host.py --coordinator 127.0.0.1:12345 \
        --num-processes 2 --process-id 1 --cpu-devices 2 --set trainer.epochs=10

On a cluster, start one process per host with the first host's address as coordinator
(on SLURM, Open MPI or Cloud TPU the three flags can be left out: JAX detects them).

References: JAX documentation, "Multi-process environments"; Alvo, Russo, Kanoria
(2023), arXiv 2306.11246.
"""

from __future__ import annotations

import argparse
import os

import jax


def parse_args(argv=None):
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--coordinator", default=env("JAX_COORDINATOR_ADDRESS"),
                   help="host:port of process 0 (env JAX_COORDINATOR_ADDRESS)")
    p.add_argument("--num-processes", type=int, default=env("JAX_NUM_PROCESSES"))
    p.add_argument("--process-id", type=int, default=env("JAX_PROCESS_ID"))
    p.add_argument("--cpu-devices", type=int, default=None,
                   help="host CPU devices per process (to try it without accelerators)")
    p.add_argument("--config", default="default",
                   help="a run config YAML or shipped name (as `invjax train --config`)")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                   help="overrides, e.g. trainer.epochs=10")
    return p.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.cpu_devices:
        jax.config.update("jax_num_cpu_devices", args.cpu_devices)
    jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)

    from invjax.scenarios import sample
    from invjax.train import make_train, parallel, run_config

    mesh = parallel.data_mesh()  # every device of every process
    who = f"process {jax.process_index()}/{jax.process_count()}"
    print(f"{who}: {jax.local_device_count()} local of {jax.device_count()} devices")
    run = run_config.apply_overrides(run_config.load(args.config), args.set)
    problem, policy, config = run_config.build(run)
    trainer = make_train(problem, policy, config, mesh=mesh)

    # Same keys on every process; jit builds the global arrays, each process its shards.
    k_data, k_init, k_test = jax.random.split(jax.random.key(int(run.get("seed", 0))), 3)
    data = jax.jit(trainer.data)(k_data)
    state = parallel.replicate(jax.jit(trainer.init)(k_init), mesh)
    while int(state.epoch) < config.epochs and not bool(state.stopped):
        chunk = min(config.eval_every, config.epochs - int(state.epoch))
        state, metrics = trainer.run(state, data, chunk)
        print(f"{who}: epoch {int(state.epoch)}  train loss {float(metrics.train_loss[-1]):.6f}"
              f"  dev cost {float(metrics.dev_cost):.6f}", flush=True)

    test = jax.jit(lambda k: parallel.constrain(sample(problem, k, *config.test), mesh))(k_test)
    print(f"{who}: test cost {float(trainer.evaluate(state.best_params, test)):.6f}")
    jax.distributed.shutdown()


if __name__ == "__main__":
    main()
