"""Data parallelism on 4 host CPU devices: same loss, gradient and training as one device.

The checks run in a subprocess: the device count must be set before JAX starts, and
this process (or its xdist worker) has already started it.
"""

import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = r"""
import re
import jax
jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_debug_key_reuse", True)
import numpy as np
from jax.sharding import PartitionSpec as P
import invjax
from invjax.rollout import hindsight_cost, simulate
from invjax.train import TrainConfig, make_train, parallel
from conftest import random_scenarios

assert jax.device_count() == 4, jax.devices()
mesh = parallel.data_mesh()
problem = invjax.settings.make("one_store_lost", lead_time=3)
policy = invjax.policies.make("vanilla", problem, hidden=[8, 8])
params = policy.init(jax.random.key(0))
close = lambda a, b, rtol=1e-5: np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-6)

# Placement: every array split in 4 along the scenario axis; static fields kept.
scenarios = random_scenarios(problem, np.random.default_rng(0), 64, 12, ignore_periods=2)
sharded = parallel.shard_scenarios(scenarios, mesh)
assert sharded.ignore_periods == 2
for leaf in jax.tree.leaves(sharded):
    assert leaf.sharding.spec == P("data"), leaf.sharding
    assert sorted(s.data.shape[0] for s in leaf.addressable_shards) == [16] * 4

# Loss and gradient of the hindsight cost: as on one device.
value_and_grad = jax.jit(jax.value_and_grad(
    lambda p, s: hindsight_cost(problem, policy, p, s)))
one = value_and_grad(params, scenarios)
four = value_and_grad(parallel.replicate(params, mesh), sharded)
jax.tree.map(close, one, four)
assert all(g.sharding.is_fully_replicated for g in jax.tree.leaves(four[1]))
cost = simulate(problem, policy, params, sharded).cost  # [n, T]: stays split
assert not cost.sharding.is_fully_replicated and len(cost.addressable_shards) == 4
close(cost, simulate(problem, policy, params, scenarios).cost)

# HDPO epochs: same parameters and losses as one device.
config = TrainConfig(learning_rate=0.01, batch_size=32, epochs=3, eval_every=3,
                     train=(128, 12, 2), dev=(64, 12, 2))
single = make_train(problem, policy, config)
multi = make_train(problem, policy, config, mesh=mesh)
k_data, k_init = jax.random.split(jax.random.key(1))
data = jax.jit(single.data)(k_data)
data4 = jax.jit(multi.data)(jax.random.clone(k_data))  # the same data, on purpose
assert data4["train"].demand.sharding.spec == P("data")
jax.tree.map(np.testing.assert_array_equal, data, data4)
state = jax.jit(single.init)(k_init)
copy = lambda s: parallel.replicate(s.replace(key=jax.random.clone(s.key)), mesh)
state1, metrics1 = single.run(state, data, 3)
compiled = multi.run.lower(copy(state), data4, 3).compile()
state4, metrics4 = compiled(copy(state), data4)
jax.tree.map(close, state1.params, state4.params)
jax.tree.map(close, metrics1, metrics4)
assert all(x.sharding.is_fully_replicated for x in jax.tree.leaves(state4.params))
assert int(state4.epoch) == 3 and not bool(state4.nan)

# The compiled step reduces gradients and never gathers the whole training set.
hlo = compiled.as_text()
reduced = " ".join(l for l in hlo.splitlines() if re.search(r"all-reduce(-start)?\(", l))
reduced = {tuple(sorted(int(d) for d in dims.split(",") if d))
           for dims in re.findall(r"f32\[([\d,]*)\]", reduced)}
for leaf in jax.tree.leaves(state.params):  # each device's gradient is summed
    assert tuple(sorted(leaf.shape)) in reduced, (leaf.shape, reduced)  # maybe transposed
gathered = re.findall(r"= \S*?\[(\d+)[,\]]\S* all-gather(?:-start)?\(", hlo)
assert str(config.train.n) not in gathered, gathered

# Sizes that do not split over 4 devices.
for call, field in (
    (lambda: parallel.shard_scenarios(scenarios.replace(demand=scenarios.demand[:62]), mesh),
     "scenarios.demand: 62 scenarios"),
    (lambda: make_train(problem, policy, TrainConfig(batch_size=30, train=(120, 12, 2)), mesh),
     "trainer.batch_size: 30"),
):
    try:
        call()
    except ValueError as error:
        assert field in str(error) and "4 devices" in str(error), error
    else:
        raise AssertionError(f"no ValueError for {field}")
print("OK")
"""


def test_data_parallel_matches_one_device():
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0 and "OK" in done.stdout, done.stderr[-4000:]
