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
from invjax.scenarios import sample
from invjax.train import run_config
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


def test_cost(problem, trainer, params, config, key) -> float:
    """Test cost after warm-up, simulated in chunks of at most TEST_CHUNK scenarios."""
    n, periods, ignore = config.test
    chunk = min(n, TEST_CHUNK)
    total, done = 0.0, 0
    for i in range(math.ceil(n / chunk)):
        size = min(chunk, n - done)
        scenarios = sample(problem, jax.random.fold_in(key, i), size, periods, ignore)
        total += float(trainer.evaluate(params, scenarios)) * size
        done += size
    return total / n


def _optimum(problem):
    """The optimum or bound where one is known, else None."""
    try:
        return optimal.cost(problem)
    except ValueError:
        return None


def _device() -> str:
    d = jax.devices()[0]
    return f"{d.platform}:{getattr(d, 'device_kind', '')}".rstrip(":")


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
    epochs = [r["epoch"] for r in rows]
    ax.plot(epochs, [r["train_loss"] for r in rows], label="train (all periods)")
    ax.plot(epochs, [r["dev_cost"] for r in rows], "o-", label="dev (after warm-up)")
    if optimum is not None:
        ax.axhline(optimum, color="k", ls="--", lw=1, label=f"optimum {optimum:.3f}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("cost per store per period")
    costs = [r["dev_cost"] for r in rows if np.isfinite(r["dev_cost"])]
    if costs:
        low = min(costs + ([optimum] if optimum else []))
        ax.set_ylim(low * 0.97, np.percentile(costs, 90) * 1.1)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "learning_curve.png", dpi=110)
    plt.close(fig)


def fit(config: dict, out=None, *, resume: bool = False, progress: bool = True,
        stop_after_epochs: int | None = None) -> dict[str, Any]:
    """Trains by HDPO as `config` says, writing the run directory `out`.

    Args:
      config: a run configuration (see `run_config`).
      out: the run directory (created); None keeps nothing on disk.
      resume: continue from `out/checkpoints/last`.
      progress: show a tqdm bar.
      stop_after_epochs: stop (as if interrupted) once this many epochs are done.

    Returns:
      The summary (also written to `out/summary.json`).
    """
    from tqdm.auto import tqdm

    config = run_config.validate(config)
    problem, policy, train_config = run_config.build(config)
    trainer = make_train(problem, policy, train_config)
    out = pathlib.Path(out) if out else None
    key = jax.random.key(int(config["seed"]))
    k_data, k_init, k_test = jax.random.split(key, 3)
    data = jax.jit(trainer.data)(k_data)
    state = jax.jit(trainer.init)(k_init)
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

    epochs, every = train_config.epochs, train_config.eval_every
    start = time.perf_counter() - (rows[-1]["seconds"] if rows else 0.0)
    bar = tqdm(total=epochs, initial=int(state.epoch), disable=not progress,
               desc=f"{problem.structure.name}/{config['policy'].get('name', 'default')}")
    while int(state.epoch) < epochs and not bool(state.stopped):
        if stop_after_epochs is not None and int(state.epoch) >= stop_after_epochs:
            break
        chunk = min(every - int(state.epoch) % every, epochs - int(state.epoch))
        before = int(state.epoch)
        previous_best = float(state.best_dev)
        new_state, metrics = trainer.run(state, data, chunk)
        if bool(new_state.nan):
            bar.close()
            message = (
                f"training diverged: NaN/inf loss or gradient in epochs {before + 1}.."
                f"{before + chunk}; the last good checkpoint is kept"
                + (f" in {out / 'checkpoints' / 'last'}" if out else "")
                + "; try a smaller trainer.learning_rate or trainer.clip_norm"
            )
            raise TrainingDiverged(message)
        state = new_state
        rows.append({
            "epoch": int(state.epoch),
            "train_loss": float(metrics.train_loss[-1]),
            "dev_cost": float(metrics.dev_cost),
            "best_dev": float(metrics.best_dev),
            "seconds": time.perf_counter() - start,
        })
        bar.update(int(state.epoch) - before)
        bar.set_postfix(train=f"{rows[-1]['train_loss']:.4f}", best_dev=f"{rows[-1]['best_dev']:.4f}")
        if out:
            save_checkpoint(out / "checkpoints" / "last", state)
            if float(state.best_dev) < previous_best:
                save_checkpoint(out / "checkpoints" / "best", state)
            _write_metrics(out, rows)
    bar.close()
    if int(state.epoch) < epochs and not bool(state.stopped):
        return {"interrupted_at_epoch": int(state.epoch)}

    params = state.best_params if np.isfinite(float(state.best_dev)) else state.params
    cost = test_cost(problem, trainer, params, train_config, k_test)
    optimum = _optimum(problem)
    summary = {
        "setting": problem.structure.name,
        "policy": config["policy"].get("name"),
        "test_cost": cost,
        "optimum": optimum,
        "optimum_is_bound": problem.structure.name == "transshipment",
        "gap_pct": None if optimum is None else 100.0 * (cost / optimum - 1.0),
        "best_dev": float(state.best_dev),
        "epochs": int(state.epoch),
        "steps": int(state.epoch) * train_config.steps_per_epoch,
        "early_stopped": int(state.epoch) < epochs,
        "n_params": int(sum(np.size(x) for x in jax.tree.leaves(params))),
        "wall_seconds": time.perf_counter() - start,
        "device": _device(),
    }
    if out:
        with open(out / "summary.json", "w") as f:
            json.dump(summary, f, indent=1)
        if rows:
            plot_learning_curve(out, rows, optimum)
    return summary


def evaluate_run(run_dir) -> dict[str, Any]:
    """Re-evaluates the best checkpoint of a run on fresh test scenarios."""
    run_dir = pathlib.Path(run_dir)
    if not (run_dir / "config.yaml").exists():
        raise ValueError(f"run directory: {run_dir} has no config.yaml")
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    problem, policy, train_config = run_config.build(config)
    trainer = make_train(problem, policy, train_config)
    key = jax.random.key(int(config.get("seed", 0)))
    like = trainer.init(jax.random.split(key, 3)[1])
    checkpoint = run_dir / "checkpoints" / "best"
    if not checkpoint.exists():
        checkpoint = run_dir / "checkpoints" / "last"
    state = load_checkpoint(checkpoint, like)
    params = state.best_params if np.isfinite(float(state.best_dev)) else state.params
    cost = test_cost(problem, trainer, params, train_config, jax.random.fold_in(key, 99))
    optimum = _optimum(problem)
    return {"test_cost": cost, "optimum": optimum,
            "gap_pct": None if optimum is None else 100 * (cost / optimum - 1)}
