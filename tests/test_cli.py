"""The `invjax` command line end to end, and the errors it prints for bad configs."""

import json
import subprocess
import sys

import pytest

from invjax import cli, policies, settings
from invjax.train import run_config

TINY = ["--set", "trainer.epochs=4", "--set", "trainer.eval_every=2",
        "--set", "trainer.batch_size=128", "--set", "trainer.train=[256, 20, 5]",
        "--set", "trainer.dev=[256, 30, 10]", "--set", "trainer.test=[256, 100, 20]",
        "--set", "policy.hidden=[8, 8]"]


def invjax(*args):
    return subprocess.run([sys.executable, "-m", "invjax.cli", *args], capture_output=True,
                          text=True, timeout=600)


def test_train_then_evaluate_writes_every_artefact(tmp_path):
    out = tmp_path / "run"
    done = invjax("train", "one_store_lost", "vanilla", *TINY, "--set", "problem.lead_time=2",
                  "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "test cost per store per period" in done.stdout and "optimum" in done.stdout
    assert "gap" in done.stdout and str(out) in done.stdout
    assert "it/s" in done.stderr or "s/it" in done.stderr  # the tqdm bar
    for name in ("config.yaml", "metrics.csv", "metrics.json", "learning_curve.png",
                 "summary.json", "checkpoints/last", "checkpoints/best"):
        assert (out / name).exists(), name
    summary = json.loads((out / "summary.json").read_text())
    for field in ("test_cost", "optimum", "gap_pct", "wall_seconds", "device", "steps"):
        assert summary[field] is not None, field
    assert summary["steps"] == 4 * 2 and summary["setting"] == "one_store_lost"
    assert summary["best_dev_epoch"] in (2, 4)
    assert f"at epoch {summary['best_dev_epoch']}" in done.stdout
    assert summary["horizons"] == {"train": [256, 20, 5], "dev": [256, 30, 10],
                                   "test": [256, 100, 20], "derived": []}
    assert isinstance(summary["warnings"], list)
    assert all(f"warning: {w}" in done.stderr for w in summary["warnings"])
    metrics = json.loads((out / "metrics.json").read_text())
    assert [row["epoch"] for row in metrics] == [2, 4]
    assert all(row["train_cost"] > 0 for row in metrics)  # after warm-up, beside dev_cost
    evaluated = invjax("evaluate", str(out))
    assert evaluated.returncode == 0, evaluated.stderr
    assert json.loads(evaluated.stdout)["test_cost"] > 0


def test_list_names_settings_policies_and_configs(capsys):
    assert cli.main(["list"]) == 0
    printed = capsys.readouterr().out
    for name in settings.names() + policies.names() + run_config.shipped():
        assert name in printed


@pytest.mark.parametrize("args, words", [
    (["train", "one_store_lost", "symmetry_aware"], ["symmetry_aware", "base_stock", "vanilla"]),
    (["train", "one_store_lost", "no_such_policy"], ["no_such_policy", "vanilla"]),
    (["train", "no_such_setting"], ["no_such_setting", "one_warehouse"]),
    (["train", "serial", "--set", "trainer.learnin_rate=0.1"], ["learnin_rate", "learning_rate"]),
    (["train", "serial", "--set", "trainr.epochs=3"], ["trainr", "trainer"]),
    (["train", "serial", "--set", "policy.widths=[3]"], ["widths", "hidden"]),
    (["train", "serial", "--set", "problem.lead_tim=3"], ["lead_tim", "lead_time"]),
    (["train", "serial", "--set", "trainer.schedule=linear"], ["linear", "cosine"]),
    (["train", "serial", "--set", "n_seeds=0"], ["n_seeds"]),
    (["train", "--resume", "/nonexistent/run"], ["--resume", "config.yaml"]),
])
def test_bad_input_names_the_field_and_the_choices(args, words, capsys, tmp_path):
    assert cli.main([*args, "--out", str(tmp_path / "x")] if "--resume" not in args else args) == 2
    message = capsys.readouterr().err
    assert message.startswith("invjax: error:"), message
    for word in words:
        assert word in message, (word, message)


def test_every_shipped_config_builds():
    for name in run_config.shipped():
        problem, policy, config = run_config.build(run_config.load(name))
        assert config.batch_size <= config.train.n, name


@pytest.fixture
def files(tmp_path):
    """Bad files and directories a new user might pass."""
    (tmp_path / "malformed.yaml").write_text("setting: [one_store_lost\ntrainer: {epochs: 3\n")
    (tmp_path / "tagged.yaml").write_text("setting: !!python/object/apply:os.system ['ls']\n")
    (tmp_path / "hyper.yml").write_text("nn_params: {name: vanilla_one_store}\n")
    (tmp_path / "no_checkpoint").mkdir()
    (tmp_path / "no_checkpoint" / "config.yaml").write_text("setting: one_store_lost\n")
    (tmp_path / "bad_run").mkdir()
    (tmp_path / "bad_run" / "config.yaml").write_text("setting: [\n")
    return tmp_path


@pytest.mark.parametrize("args, words", [
    (["train", "--set", "trainer.learning_rate=abc"], ["trainer.learning_rate", "'abc'"]),
    (["train", "--set", "trainer.batch_size=100000"], ["trainer.batch_size", "exceeds"]),
    (["train", "--set", "trainer.train=[1024, 50]"], ["trainer.train[2]"]),
    (["train", "--set", "n_seeds=1.5"], ["n_seeds", "integer"]),
    (["train", "--set", "seed=-2"], ["seed"]),
    (["train", "--set", "trainer=3"], ["trainer", "dictionary"]),
    (["train", "--set", "trainer.epochs=[1,"], ["--set trainer.epochs", "YAML"]),
    (["train", "--set", "trainer.epochs"], ["--set", "key=value"]),
    (["train", "--config", "{d}/malformed.yaml"], ["malformed.yaml", "YAML"]),
    (["train", "--config", "{d}/tagged.yaml"], ["tagged.yaml", "python/object/apply"]),
    (["train", "--authors-settings", "{d}/malformed.yaml", "--authors-hyperparams",
      "{d}/hyper.yml"], ["malformed.yaml", "YAML"]),
    (["train", "--authors-settings", "{d}/tagged.yaml", "--authors-hyperparams",
      "{d}/hyper.yml"], ["tagged.yaml", "python/object/apply"]),
    (["train", "--authors-settings", "{d}/hyper.yml"], ["--authors-hyperparams"]),
    (["train", "--resume", "{d}/no_checkpoint"], ["--resume", "checkpoints/last"]),
    (["train", "--resume", "{d}/bad_run"], ["bad_run/config.yaml", "YAML"]),
    (["evaluate", "{d}/nowhere"], ["nowhere", "config.yaml"]),
    (["evaluate", "{d}/no_checkpoint"], ["no_checkpoint", "checkpoints/best"]),
    (["evaluate", "{d}/bad_run"], ["bad_run/config.yaml", "YAML"]),
])
def test_bad_input_is_one_line_and_exit_2(args, words, files, capsys):
    args = [a.format(d=files) for a in args]
    if args[0] == "train" and "--resume" not in args:
        args += ["--out", str(files / "out"), "--quiet"]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("invjax: error:"), captured.err
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert not (files / "out").exists()  # nothing written before the error
