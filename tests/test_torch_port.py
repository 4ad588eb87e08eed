"""The PyTorch port used by benchmarks/speed.py computes invjax's costs: same demand,
same initial state, Flax parameters copied into the torch modules, for every setting the
benchmark times. Compared in float64 on both sides, so a 512-wide layer's summation
order does not blur the comparison. Skipped where torch is not installed (CI)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import invjax  # noqa: E402
from benchmarks import speed, torch_policies, torch_port  # noqa: E402


def _float64(tree):
    return jax.tree.map(
        lambda x: x.astype(jnp.float64) if jnp.issubdtype(x.dtype, jnp.floating) else x, tree)


def _pair(case, key, n, periods):
    """(invjax problem, policy, params, scenarios) in float64 and the torch (port, net)."""
    problem, policy, params = case.build()
    sc = invjax.scenarios.sample(problem, jax.random.key(key), n, periods)
    sc, params = _float64(sc), _float64(params)
    port = torch_port.Port.from_invjax(problem, sc, dtype=torch.float64)
    net = torch_policies.load_flax(case.torch_policy(problem).double(), params)
    return problem, policy, params, sc, port, net


@pytest.mark.parametrize("case", speed.CASES, ids=lambda c: c.name)
def test_per_period_cost_matches_invjax(case):
    with jax.enable_x64(True):
        problem, policy, params, sc, port, net = _pair(case, 3, 64, 24)
        expected = np.asarray(invjax.simulate(problem, policy, params, sc, 0).cost)  # [n, T]
        reference = float(invjax.hindsight_cost(problem, policy, params, sc))
    with torch.no_grad():
        got = torch_port.rollout(port, net, per_period=True).numpy().T
        loss = float(torch_port.rollout(port, net))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * np.abs(expected).max())
    assert loss == pytest.approx(reference, rel=1e-5)


@pytest.mark.parametrize("case", [c for c in speed.CASES if c.train], ids=lambda c: c.name)
def test_hdpo_gradient_matches_invjax(case):
    """The torch loss's gradient equals jax.grad of the hindsight cost, leaf by leaf (in
    norm: invjax feeds the state to its nets in float32, and a rare kink crossed on one
    side only moves single entries)."""
    with jax.enable_x64(True):
        problem, policy, params, sc, port, net = _pair(case, 4, 32, 12)
        grads = jax.grad(lambda p: invjax.hindsight_cost(problem, policy, p, sc))(params)
        want = torch_policies.load_flax(case.torch_policy(problem).double(), grads)
    torch_port.rollout(port, net).backward()
    for (name, got), (_, ref) in zip(net.named_parameters(), want.named_parameters()):
        ref = ref.detach().numpy()
        error = np.linalg.norm(got.grad.numpy() - ref) / (np.linalg.norm(ref) + 1e-12)
        assert error < 1e-3, (name, error)


@pytest.mark.parametrize("mode", ["default", "reduce-overhead"])
def test_compiled_period_matches_eager(monkeypatch, mode):
    """The torch.compile'd period the speed rows time (with its CUDA-graph output
    copies where a GPU picks "reduce-overhead"; on a CPU that mode only skips the
    graphs) gives eager torch's loss and gradient."""
    from benchmarks import speed_torch

    monkeypatch.setattr(speed_torch, "compile_mode", lambda: mode)
    case = speed.CASES[0]
    problem, policy, params = case.build()
    sc = invjax.scenarios.sample(problem, jax.random.key(5), 32, 8)
    losses, grads = [], []
    for compiled in (False, True):
        port = torch_port.Port.from_invjax(problem, sc)
        net = torch_policies.load_flax(case.torch_policy(problem), params)
        step = speed_torch.compiled_period(port, net) if compiled else None
        loss = torch_port.rollout(port, net, step)
        loss.backward()
        losses.append(float(loss.detach()))
        grads.append([p.grad.clone() for p in net.parameters()])
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    for got, ref in zip(grads[1], grads[0]):
        np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-4, atol=1e-6)
