"""A training run on disk: progress bar, metrics, checkpoints, plot, summary, resume.

The run directory holds `config.yaml` (resolved), `metrics.csv` / `metrics.json`,
`checkpoints/last` and `checkpoints/best` (orbax), `learning_curve.png` and
`summary.json`. A resumed run reloads `checkpoints/last` (parameters, optimizer state,
PRNG key, counters) and ends with the same parameters as an uninterrupted run.
"""

from __future__ import annotations

import json
import math
import pathlib
import sys
import time
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from invjax import optimal, policies
from invjax.device import describe
from invjax.scenarios import sample
from invjax.settings.user_network import read_yaml
from invjax.train import hdpo, horizons, parallel, run_config
from invjax.train.hdpo import TrainConfig, TrainState, make_train
from invjax.train.rundir import (  # noqa: F401 (re-exported: the runner's API)
    load_checkpoint,
    plot_learning_curve,
    prepare_directory,
    save_checkpoint,
    write_metrics,
)

TEST_CHUNK = 8192  # scenarios simulated at once in the test evaluation


class TrainingDiverged(RuntimeError):
    """The loss or its gradient became NaN or infinite."""


def test_cost(problem, trainer, params, config, key, mesh=None) -> float:
    """Test cost after warm-up, simulated in chunks of at most TEST_CHUNK scenarios."""
    n, periods, ignore = config.test
    chunk = min(n, TEST_CHUNK)
    total, done = 0.0, 0
    for i in range(math.ceil(n / chunk)):
        size = min(chunk, n - done)
        scenarios = sample(problem, jax.random.fold_in(key, i), size, periods, ignore)
        if mesh is not None and size % mesh.size == 0:
            scenarios = parallel.shard_scenarios(scenarios, mesh)
        total += float(trainer.evaluate(params, scenarios)) * size
        done += size
    return total / n


def seed_keys(config: dict) -> tuple[jax.Array, jax.Array, jax.Array]:
    """(data, init, test) keys, one row per seed: seeds are seed, seed+1, ...

    Every seed is tested on the same scenarios (those of the first seed's test key), so
    their test costs compare with common random numbers.
    """
    first = int(config["seed"])
    seeds = jnp.arange(first, first + int(config["n_seeds"]))
    data, init, _ = jax.vmap(lambda s: tuple(jax.random.split(jax.random.key(s), 3)))(seeds)
    _, _, test = jax.random.split(jax.random.key(first), 3)
    return data, init, test


def best_params(state: TrainState, seed: int):
    """Parameters of one seed: the best by dev cost, or the last if never evaluated."""
    chosen = state.best_params if np.isfinite(float(state.best_dev[seed])) else state.params
    return jax.tree.map(lambda x: x[seed], chosen)


def _optimum(problem):
    """`invjax.optimal.Known` (cost, is_bound, method) where one is known, else None."""
    return optimal.known(problem)


def _diverged_message(seeds, first: int, last: int, out) -> str:
    where = f" in {out / 'checkpoints' / 'last'}" if out else ""
    return (f"training diverged: NaN/inf loss or gradient for seed(s) {seeds} in epochs "
            f"{first}..{last}; the last good checkpoint is kept{where}; try a smaller "
            "trainer.learning_rate or set trainer.clip_norm")


class Run(NamedTuple):
    """A resolved run configuration and what it builds."""

    config: dict  # validated, every section present (written to config.yaml)
    problem: Any
    policy: Any
    train_config: TrainConfig
    policy_name: str  # the config's, or the registry's default for the network
    derived: tuple[str, ...] = ()  # horizons the config left to `invjax.train.horizons`


def resolve(config: dict) -> Run:
    """Validates a run configuration and builds its problem, policy and trainer config;
    derived horizons go into the config's trainer section (a resumed run reads them)."""
    config = run_config.validate(config)
    derived = tuple(s for s in horizons.SPLITS if config["trainer"].get(s) is None)
    problem, policy, train_config = run_config.build(config)
    config["trainer"] = {**config["trainer"],
                         **{s: list(getattr(train_config, s)) for s in derived}}
    name = config["policy"].get("name") or policies.default_for(problem)
    return Run(config, problem, policy, train_config, name, derived)


class _Loop(NamedTuple):
    """What the training loop reads."""

    trainer: Any
    data: Any  # vmapped {"train", "dev"} scenarios
    train_config: TrainConfig
    first_seed: int
    out: pathlib.Path | None
    label: str  # progress bar title


def _epoch(state) -> int:
    return int(state.epoch.min())  # seeds move in lockstep


def _chunk_rows(loop: _Loop, state, metrics, seconds: float) -> list[dict]:
    return [{
        "seed": loop.first_seed + i,
        "epoch": _epoch(state),
        "train_loss": float(metrics.train_loss[i, -1]),  # the objective (loss_periods)
        "train_cost": float(metrics.train_cost[i]),  # after warm-up, as dev
        "grad_norm": float(metrics.grad_norm[i].max()),  # largest since the last row
        "dev_cost": float(metrics.dev_cost[i]),
        "best_dev": float(metrics.best_dev[i]),
        "seconds": seconds,
    } for i in range(len(state.best_dev))]


def train_loop(loop: _Loop, state, rows: list[dict], *, progress: bool,
               stop_after_epochs: int | None):
    """Runs chunks of epochs up to each dev evaluation, checkpointing after each.

    Returns (state, rows, start): `start` is the `time.perf_counter()` the run began at
    (moved back by the time already spent when resumed).

    Raises:
      TrainingDiverged: every seed met a NaN or infinite loss or gradient.
    """
    from tqdm.auto import tqdm

    runs = {}  # one compiled vmapped program per chunk length
    epochs, every = loop.train_config.epochs, loop.train_config.eval_every
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    bar = tqdm(total=epochs, initial=_epoch(state), disable=not progress, desc=loop.label)
    diverged: list[int] = []
    while _epoch(state) < epochs and not bool(state.stopped.all()):
        before = _epoch(state)
        if stop_after_epochs is not None and before >= stop_after_epochs:
            break
        chunk = min(every - before % every, epochs - before)
        if chunk not in runs:
            runs[chunk] = jax.jit(jax.vmap(lambda s, d, c=chunk: loop.trainer.run(s, d, c)))
        previous_best = np.asarray(state.best_dev)
        new_state, metrics = runs[chunk](state, loop.data)
        nan = np.asarray(new_state.nan) & ~np.asarray(state.nan)
        diverged += [loop.first_seed + int(i) for i in np.flatnonzero(nan)]
        if nan.any() and bool(np.asarray(new_state.nan).all()):
            bar.close()
            raise TrainingDiverged(
                _diverged_message(diverged, before + 1, before + chunk, loop.out))
        state = new_state
        rows += _chunk_rows(loop, state, metrics, time.perf_counter() - start)
        bar.update(_epoch(state) - before)
        mean = lambda x: f"{float(np.nanmean(np.asarray(x))):.4f}"  # noqa: E731
        bar.set_postfix(train=mean(metrics.train_cost), dev=mean(metrics.dev_cost),
                        best_dev=f"{float(np.min(state.best_dev)):.4f}")  # after warm-up
        if loop.out:
            save_checkpoint(loop.out / "checkpoints" / "last", state)
            if (np.asarray(state.best_dev) < previous_best).any():
                save_checkpoint(loop.out / "checkpoints" / "best", state)
            write_metrics(loop.out, rows)
    bar.close()
    return state, rows, start


def _chosen_seed(state) -> int:
    """The seed with the best dev cost."""
    return int(np.argmin(np.where(np.isfinite(state.best_dev), state.best_dev, np.inf)))


def _best_dev_epoch(rows: list[dict], seed: int) -> int | None:
    """The epoch `seed`'s tested parameters come from, from its metrics rows (a resumed
    run's too). Best at the last evaluation: the run was still improving when its budget
    ended."""
    mine = [row for row in rows if row["seed"] == seed]
    return hdpo.best_dev_epoch([r["dev_cost"] for r in mine], [r["epoch"] for r in mine])


def summarize(run: Run, trainer, state, k_test, start: float, mesh=None,
              rows: list[dict] = ()) -> dict:
    """Tests every seed's best parameters and reports the best seed (by dev cost);
    `rows` (the metrics rows) date each seed's best dev cost."""
    known = _optimum(run.problem)
    optimum = None if known is None else known.cost
    gap = lambda cost: None if optimum is None else 100.0 * (cost / optimum - 1.0)  # noqa: E731
    first_seed = int(run.config["seed"])
    per_seed = []
    for i in range(len(state.best_dev)):
        cost = test_cost(run.problem, trainer, best_params(state, i), run.train_config,
                         k_test, mesh)
        per_seed.append({"seed": first_seed + i, "test_cost": cost, "gap_pct": gap(cost),
                         "best_dev": float(state.best_dev[i]),
                         "best_dev_epoch": _best_dev_epoch(rows, first_seed + i),
                         "diverged": bool(state.nan[i])})
    chosen = _chosen_seed(state)
    done = int(state.epoch[chosen])
    return {
        "setting": run.problem.structure.name,
        "policy": run.policy_name,
        "test_cost": per_seed[chosen]["test_cost"],
        "optimum": optimum,
        "optimum_is_bound": bool(known and known.is_bound),
        "gap_pct": per_seed[chosen]["gap_pct"],
        "best_dev": float(state.best_dev[chosen]),
        "best_dev_epoch": per_seed[chosen]["best_dev_epoch"],
        "seed": first_seed + chosen,
        "epochs": done,
        "steps": done * run.train_config.steps_per_epoch,
        "early_stopped": done < run.train_config.epochs,
        "n_params": int(sum(np.size(x) for x in jax.tree.leaves(best_params(state, chosen)))),
        "wall_seconds": time.perf_counter() - start,
        "device": describe(),
        "horizons": {**{s: list(getattr(run.train_config, s)) for s in horizons.SPLITS},
                     "derived": list(run.derived)},
        "warnings": horizons.dev_test_warnings(per_seed[chosen]["test_cost"],
                                               float(state.best_dev[chosen])),
        "seeds": per_seed,
    }


def fit(config: dict, out=None, *, resume: bool = False, progress: bool = True,
        stop_after_epochs: int | None = None, data_parallel: bool = False) -> dict[str, Any]:
    """Trains by HDPO as `config` says, writing the run directory `out`.

    `n_seeds` seeds (seed, seed+1, ...) train as one vmapped program; the summary reports
    each seed and takes the seed with the best dev cost as the result.

    Args:
      config: a run configuration (see `run_config`).
      out: the run directory (created); None keeps nothing on disk.
      resume: continue from `out/checkpoints/last`.
      progress: show a tqdm bar.
      stop_after_epochs: stop (as if interrupted) once this many epochs are done.
      data_parallel: split each seed's scenarios over all devices (`parallel`); batch
        and data sizes must be multiples of the device count.

    Returns:
      The summary (also written to `out/summary.json`).

    Raises:
      TrainingDiverged: every seed met a NaN or infinite loss or gradient.
    """
    run = resolve(config)
    mesh = parallel.data_mesh() if data_parallel else None
    trainer = make_train(run.problem, run.policy, run.train_config, mesh=mesh)
    out = pathlib.Path(out) if out else None
    rows = prepare_directory(out, run.config, resume)
    k_data, k_init, k_test = seed_keys(run.config)
    data = jax.jit(jax.vmap(trainer.data))(k_data)
    state = jax.jit(jax.vmap(trainer.init))(k_init)
    if resume:
        state = load_checkpoint(out / "checkpoints" / "last", state)
    if mesh is not None:
        state = parallel.replicate(state, mesh)
    label = f"{run.problem.structure.name}/{run.policy_name}"
    loop = _Loop(trainer, data, run.train_config, int(run.config["seed"]), out, label)
    state, rows, start = train_loop(loop, state, rows, progress=progress,
                                      stop_after_epochs=stop_after_epochs)
    if _epoch(state) < run.train_config.epochs and not bool(state.stopped.all()):
        return {"interrupted_at_epoch": _epoch(state)}
    summary = summarize(run, trainer, state, k_test, start, mesh, rows)
    for warning in summary["warnings"]:
        print(f"invjax: warning: {warning}", file=sys.stderr)
    if out:
        with open(out / "summary.json", "w") as f:
            json.dump(summary, f, indent=1)
        if rows:
            plot_learning_curve(out, rows, summary["optimum"])
    return summary


def evaluate_run(run_dir) -> dict[str, Any]:
    """Re-evaluates a run's best seed, from its best checkpoint, on fresh test scenarios."""
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise ValueError(f"run directory: {run_dir} has no config.yaml")
    run = resolve(read_yaml(run_dir / "config.yaml"))
    trainer = make_train(run.problem, run.policy, run.train_config)
    _, k_init, k_test = seed_keys(run.config)
    like = jax.vmap(trainer.init)(k_init)
    checkpoint = run_dir / "checkpoints" / "best"
    if not checkpoint.exists():
        checkpoint = run_dir / "checkpoints" / "last"
    if not checkpoint.exists():
        raise ValueError(f"run directory: {run_dir} has no checkpoints/best or "
                         "checkpoints/last (was it trained for at least one evaluation?)")
    state = load_checkpoint(checkpoint, like)
    chosen = _chosen_seed(state)
    params = best_params(state, chosen)
    cost = test_cost(run.problem, trainer, params, run.train_config,
                     jax.random.fold_in(k_test, 99))
    known = _optimum(run.problem)
    optimum = None if known is None else known.cost
    return {"seed": int(run.config["seed"]) + chosen, "test_cost": cost, "optimum": optimum,
            "gap_pct": None if optimum is None else 100 * (cost / optimum - 1)}
