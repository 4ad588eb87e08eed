"""The dev-cost curve of one v3 study cell, printed every few epochs: to see whether a
cell's training is stable before spending a full cell on it.

    python -m benchmarks.dev_curve FAMILY SIZE POLICY [--scenarios N] [--every K]
                                   [--set trainer_field=value ...]

Builds the cell exactly as `benchmarks.v3_study` does (same configuration and key), so
the curve is the one the cell trains along; `--set` overrides trainer fields, e.g.
`--set learning_rate=3e-4 "train=[128, 50, 30]"`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks import v3_study
from invjax.train.hdpo import make_train


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    v3_study.add_cell_arguments(parser)
    parser.add_argument("--every", type=int, default=50, help="epochs between dev costs")
    args = parser.parse_args(argv)
    if min(args.every, args.steps, args.scenarios, args.size) < 1:
        parser.error("size, --scenarios, --steps and --every must be >= 1")
    _, (problem, policy, train_config) = v3_study.built_cell(parser, args, (256, 200, 50))
    print({k: getattr(train_config, k) for k in ("learning_rate", "clip_norm", "train", "dev",
                                                 "loss_periods", "backprop_periods")})
    trainer = make_train(problem, policy, train_config)
    k_data, k_init = v3_study.start_keys(args.family, args.size, args.policy, args.scenarios)
    data, state = trainer.data(k_data), trainer.init(k_init)
    start = time.perf_counter()
    for _ in range(train_config.epochs // args.every):
        state, m = trainer.run(state, data, args.every)
        print(f"epoch {int(state.epoch)}  train loss {float(np.nanmean(m.train_loss)):.3f}  "
              f"dev {float(m.dev_cost):.4f}  best dev {float(state.best_dev):.4f}  "
              f"largest gradient norm {float(np.nanmax(m.grad_norm)):.3g}  "
              f"non-finite {bool(state.nan)}  {time.perf_counter() - start:.0f} s", flush=True)
        if bool(state.stopped):
            break


if __name__ == "__main__":
    main()
