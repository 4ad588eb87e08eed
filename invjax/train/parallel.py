"""Data parallelism: the scenario batch split across devices, parameters replicated.

Every scenario's cost is independent of the others, so splitting the leading (scenario)
axis of every `Scenarios` array over a one-axis mesh leaves the loss, a mean, and its
gradient unchanged; under `jax.jit` each device simulates its own scenarios and XLA
adds the all-reduce of the mean cost and of the gradient. The same code runs on one
host's devices and, after `jax.distributed.initialize`, on every process's devices.

    mesh = data_mesh()
    trainer = make_train(problem, policy, config, mesh=mesh)
    data = jax.jit(trainer.data)(k_data)            # sharded by the trainer
    state = replicate(jax.jit(trainer.init)(k_init), mesh)
    state, metrics = trainer.run(state, data, epochs)

References: JAX documentation, "Distributed arrays and automatic parallelization".
"""

from __future__ import annotations

from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

AXIS = "data"


def data_mesh(devices: Optional[Sequence[jax.Device]] = None) -> Mesh:
    """A one-axis mesh named "data" over `devices` (default: every process's devices)."""
    devices = jax.devices() if devices is None else list(devices)
    # Auto axes: jit's sharding propagation places everything that is not constrained.
    return jax.make_mesh((len(devices),), (AXIS,), (AxisType.Auto,), devices=devices)


def batch_sharding(mesh: Mesh) -> NamedSharding:
    """The leading axis split over the mesh, the others whole."""
    return NamedSharding(mesh, PartitionSpec(AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
    """A full copy on every device of the mesh."""
    return NamedSharding(mesh, PartitionSpec())


def _field(path) -> str:
    return ".".join(str(getattr(p, "name", getattr(p, "key", p))) for p in path)


def check_divisible(tree: Any, mesh: Mesh, name: str = "scenarios") -> None:
    """Raises ValueError naming the first array whose leading axis does not split
    evenly over the mesh (0-d leaves are replicated and need not)."""
    size = mesh.shape[AXIS]
    for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
        if jnp.ndim(leaf) and leaf.shape[0] % size:
            raise ValueError(
                f"{name}.{_field(path)}: {leaf.shape[0]} scenarios do not split evenly "
                f"over {size} devices; use a multiple of {size}"
            )


def _spec(leaf, mesh: Mesh) -> NamedSharding:
    return batch_sharding(mesh) if jnp.ndim(leaf) else replicated(mesh)


def _put(x, sharding: NamedSharding):
    if jax.process_count() > 1 and isinstance(x, jax.Array) and x.is_fully_addressable:
        # Across processes device_put takes host values (the same on every process),
        # not arrays committed to one process's device.
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            data = _put(jax.random.key_data(x), sharding)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(x))
        x = np.asarray(x)
    return jax.device_put(x, sharding)


def shard_scenarios(scenarios: Any, mesh: Mesh) -> Any:
    """Places the leading (scenario) axis of every array leaf across the mesh.

    Works on any pytree whose array leaves lead with the scenario axis (`Scenarios`,
    a dict of splits); static fields such as `ignore_periods` stay as they are.
    """
    check_divisible(scenarios, mesh)
    return jax.tree.map(lambda x: _put(x, _spec(x, mesh)), scenarios)


def replicate(tree: Any, mesh: Mesh) -> Any:
    """A full copy of every leaf on every device of the mesh (parameters, state)."""
    return jax.tree.map(lambda x: _put(x, replicated(mesh)), tree)


def constrain(scenarios: Any, mesh: Mesh) -> Any:
    """Inside jit: asks for the scenario axis split over the mesh (the minibatch after
    its gather would otherwise be replicated, and every device would simulate all of it)."""
    return jax.tree.map(
        lambda x: jax.lax.with_sharding_constraint(x, _spec(x, mesh)), scenarios
    )


def batch_constraint(mesh: Optional[Mesh], config: Any) -> Callable[[Any], Any]:
    """The trainer's hook: identity without a mesh, else `constrain` over `mesh` after
    checking that `config`'s batch and data sizes split evenly across its devices."""
    if mesh is None:
        return lambda scenarios: scenarios
    size = mesh.shape[AXIS]
    sizes = {"batch_size": config.batch_size, "train.n": config.train.n,
             "dev.n": config.dev.n}
    for name, value in sizes.items():
        if value % size:
            raise ValueError(
                f"trainer.{name}: {value} does not split evenly over the {size} devices "
                f"of the mesh; use a multiple of {size}"
            )
    return lambda scenarios: constrain(scenarios, mesh)
