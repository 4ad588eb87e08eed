"""A training run on disk: progress bar, metrics, checkpoints, plot, summary, resume.

The run directory holds `config.yaml` (resolved), `metrics.csv` / `metrics.json`,
`checkpoints/last` and `checkpoints/best` (orbax), `learning_curve.png` and
`summary.json`. A resumed run reloads `checkpoints/last` (parameters, optimizer state,
PRNG key, counters) and ends with the same parameters as an uninterrupted run.
"""

from __future__ import annotations

import csv
import json
import math
import pathlib
import shutil
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import yaml

from invjax import optimal
from invjax.device import describe
from invjax.scenarios import sample
from invjax.train import parallel, run_config
from invjax.train.hdpo import TrainState, make_train

TEST_CHUNK = 8192  # scenarios simulated at once in the test evaluation


class TrainingDiverged(RuntimeError):
    """The loss or its gradient became NaN or infinite."""


def _to_disk(state: TrainState) -> TrainState:
    return state.replace(key=jax.random.key_data(state.key))


def _from_disk(state: TrainState) -> TrainState:
    return state.replace(key=jax.random.wrap_key_data(state.key))


def save_checkpoint(path: pathlib.Path, state: TrainState) -> None:
    import orbax.checkpoint as ocp

    checkpointer = ocp.StandardCheckpointer()
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    checkpointer.save(tmp.resolve(), _to_disk(state))
    checkpointer.wait_until_finished()
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def load_checkpoint(path: pathlib.Path, like: TrainState) -> TrainState:
    import orbax.checkpoint as ocp

    if not path.exists():
        raise ValueError(f"checkpoint: {path} not found")
    target = _to_disk(like)
    abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, target)
    restored = ocp.StandardCheckpointer().restore(path.resolve(), abstract)
    leaves = jax.tree.leaves(restored)
    return _from_disk(jax.tree.unflatten(jax.tree.structure(target), leaves))


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
    """The optimum or bound where one is known, else None."""
    try:
        return optimal.cost(problem)
    except ValueError:
        return None


def _write_metrics(out: pathlib.Path, rows: list[dict]) -> None:
    with open(out / "metrics.json", "w") as f:
        json.dump(rows, f, indent=1)
    with open(out / "metrics.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def plot_learning_curve(out: pathlib.Path, rows: list[dict], optimum=None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    seeds = sorted({r["seed"] for r in rows})
    for i, seed in enumerate(seeds):
        mine = [r for r in rows if r["seed"] == seed]
        epochs = [r["epoch"] for r in mine]
        label = f" seed {seed}" if len(seeds) > 1 else ""
        ax.plot(epochs, [r["train_loss"] for r in mine], color=f"C{i}", alpha=0.5,
                label=f"train (all periods){label}")
        ax.plot(epochs, [r["dev_cost"] for r in mine], "o-", color=f"C{i}", ms=3,
                label=f"dev (after warm-up){label}")
    if optimum is not None:
        ax.axhline(optimum, color="k", ls="--", lw=1, label=f"optimum {optimum:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost per store per period")
    costs = [r["dev_cost"] for r in rows if np.isfinite(r["dev_cost"])]
    if costs:
        low = min(costs + ([optimum] if optimum else []))
        ax.set_ylim(low * 0.97 if low > 0 else low * 1.03, np.percentile(costs, 90) * 1.1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=110)
    plt.close(fig)


def _diverged_message(seeds, first: int, last: int, out) -> str:
    where = f" in {out / 'checkpoints' / 'last'}" if out else ""
    return (f"training diverged: NaN/inf loss or gradient for seed(s) {seeds} in epochs "
            f"{first}..{last}; the last good checkpoint is kept{where}; try a smaller "
            "trainer.learning_rate or set trainer.clip_norm")


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
    from tqdm.auto import tqdm

    config = run_config.validate(config)
    problem, policy, train_config = run_config.build(config)
    mesh = parallel.data_mesh() if data_parallel else None
    trainer = make_train(problem, policy, train_config, mesh=mesh)
    out = pathlib.Path(out) if out else None
    first_seed = int(config["seed"])
    k_data, k_init, k_test = seed_keys(config)
    data = jax.jit(jax.vmap(trainer.data))(k_data)
    state = jax.jit(jax.vmap(trainer.init))(k_init)
    rows: list[dict] = []
    if out:
        out.mkdir(parents=True, exist_ok=True)
        (out / "checkpoints").mkdir(exist_ok=True)
        if resume:
            state = load_checkpoint(out / "checkpoints" / "last", state)
            if (out / "metrics.json").exists():
                rows = json.loads((out / "metrics.json").read_text())
        with open(out / "config.yaml", "w") as f:
            yaml.safe_dump(config, f, sort_keys=False)
    elif resume:
        raise ValueError("resume: needs a run directory (out)")
    if mesh is not None:
        state = parallel.replicate(state, mesh)

    runs = {}  # one compiled vmapped program per chunk length

    def run(state, chunk):
        if chunk not in runs:
            runs[chunk] = jax.jit(jax.vmap(lambda s, d: trainer.run(s, d, chunk)))
        return runs[chunk](state, data)

    epochs, every = train_config.epochs, train_config.eval_every
    epoch = lambda s: int(s.epoch.min())  # noqa: E731 (seeds move in lockstep)
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    bar = tqdm(total=epochs, initial=epoch(state), disable=not progress,
               desc=f"{problem.structure.name}/{config['policy'].get('name', 'default')}")
    diverged: list[int] = []
    while epoch(state) < epochs and not bool(state.stopped.all()):
        if stop_after_epochs is not None and epoch(state) >= stop_after_epochs:
            break
        before = epoch(state)
        chunk = min(every - before % every, epochs - before)
        previous_best = np.asarray(state.best_dev)
        new_state, metrics = run(state, chunk)
        nan = np.asarray(new_state.nan) & ~np.asarray(state.nan)
        if nan.any():
            diverged += [first_seed + int(i) for i in np.flatnonzero(nan)]
            if bool(np.asarray(new_state.nan).all()):
                bar.close()
                raise TrainingDiverged(_diverged_message(diverged, before + 1, before + chunk, out))
        state = new_state
        seconds = time.perf_counter() - start
        for i in range(len(previous_best)):
            rows.append({
                "seed": first_seed + i,
                "epoch": epoch(state),
                "train_loss": float(metrics.train_loss[i, -1]),
                "dev_cost": float(metrics.dev_cost[i]),
                "best_dev": float(metrics.best_dev[i]),
                "seconds": seconds,
            })
        bar.update(epoch(state) - before)
        bar.set_postfix(train=f"{float(np.nanmean(metrics.train_loss[:, -1])):.4f}",
                        best_dev=f"{float(np.min(state.best_dev)):.4f}")
        if out:
            save_checkpoint(out / "checkpoints" / "last", state)
            if (np.asarray(state.best_dev) < previous_best).any():
                save_checkpoint(out / "checkpoints" / "best", state)
            _write_metrics(out, rows)
    bar.close()
    if epoch(state) < epochs and not bool(state.stopped.all()):
        return {"interrupted_at_epoch": epoch(state)}

    optimum = _optimum(problem)
    gap = lambda cost: None if optimum is None else 100.0 * (cost / optimum - 1.0)  # noqa: E731
    per_seed = []
    for i in range(len(state.best_dev)):
        cost = test_cost(problem, trainer, best_params(state, i), train_config, k_test, mesh)
        per_seed.append({"seed": first_seed + i, "test_cost": cost, "gap_pct": gap(cost),
                         "best_dev": float(state.best_dev[i]),
                         "diverged": bool(state.nan[i])})
    chosen = int(np.argmin(np.where(np.isfinite(state.best_dev), state.best_dev, np.inf)))
    done = int(state.epoch[chosen])
    summary = {
        "setting": problem.structure.name,
        "policy": config["policy"].get("name"),
        "test_cost": per_seed[chosen]["test_cost"],
        "optimum": optimum,
        "optimum_is_bound": problem.structure.name == "transshipment",
        "gap_pct": per_seed[chosen]["gap_pct"],
        "best_dev": float(state.best_dev[chosen]),
        "seed": first_seed + chosen,
        "epochs": done,
        "steps": done * train_config.steps_per_epoch,
        "early_stopped": done < epochs,
        "n_params": int(sum(np.size(x) for x in jax.tree.leaves(best_params(state, chosen)))),
        "wall_seconds": time.perf_counter() - start,
        "device": describe(),
        "seeds": per_seed,
    }
    if out:
        with open(out / "summary.json", "w") as f:
            json.dump(summary, f, indent=1)
        if rows:
            plot_learning_curve(out, rows, optimum)
    return summary


def evaluate_run(run_dir) -> dict[str, Any]:
    """Re-evaluates a run's best seed, from its best checkpoint, on fresh test scenarios."""
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise ValueError(f"run directory: {run_dir} has no config.yaml")
    config = run_config.validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
    problem, policy, train_config = run_config.build(config)
    trainer = make_train(problem, policy, train_config)
    _, k_init, k_test = seed_keys(config)
    like = jax.vmap(trainer.init)(k_init)
    checkpoint = run_dir / "checkpoints" / "best"
    if not checkpoint.exists():
        checkpoint = run_dir / "checkpoints" / "last"
    state = load_checkpoint(checkpoint, like)
    chosen = int(np.argmin(np.where(np.isfinite(state.best_dev), state.best_dev, np.inf)))
    params = best_params(state, chosen)
    cost = test_cost(problem, trainer, params, train_config, jax.random.fold_in(k_test, 99))
    optimum = _optimum(problem)
    return {"seed": int(config["seed"]) + chosen, "test_cost": cost, "optimum": optimum,
            "gap_pct": None if optimum is None else 100 * (cost / optimum - 1)}
