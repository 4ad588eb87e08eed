"""The shared store net of the symmetry-aware policy: one set of weights for every store.

Factored first layer: the store net's first layer is one Dense kernel over
[own features (F), context (C)]; the context block W_c @ context is the same for every
store, so it is computed once per scenario and broadcast over stores
(`first_layer_macs`): S x (F + C) x H multiply-adds per scenario become
S x F x H + C x H. `factored=False` concatenates the context to every store's input
instead, with the same parameter pytree.

Narrow layers: a shared layer whose fan-in is at most `NARROW_FAN_IN` runs as fused
multiply-adds (`narrow_matmul`) rather than a dot.

References: Alvo, Russo, Kanoria (2023), arXiv 2306.11246, Section 6; SPEC §4.
"""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp

from invjax.policies.neural import activation_fn, saved_if_wide


def first_layer_macs(n_stores: int, store_inputs: int, context_size: int, width: int,
                     factored: bool = True) -> int:
    """Multiply-adds per scenario of the store net's first layer (shared weights).

    Naive: S x (F + C) x H. Factored: S x F x H + C x H, a saving of (S - 1) x C x H;
    the context part drops from S x C x H to C x H.
    """
    context = context_size * width * (1 if factored else n_stores)
    return n_stores * store_inputs * width + context


NARROW_FAN_IN = 8  # shared store layers with a fan-in up to this: multiply-adds, not a dot


@jax.custom_jvp
def narrow_matmul(x, kernel):
    """x [..., F] @ kernel [F, H] as F broadcast multiply-adds (small F), same values as
    the dot up to float rounding.

    The store net runs on [scenarios x stores] rows; as a dot, its first layer is a
    library call per period that writes its [rows, H] output, read back by the bias,
    context and activation pass. As elementwise work XLA fuses the layer into that pass
    (one call and one [rows, H] write fewer per period). Columns are summed last to
    first: the store features (the last columns) are the same every period, so XLA
    hoists their partial sum out of the rollout's scan as one array (summed first to
    last, it hoisted each feature's product: one array per feature, all read every
    period). The derivative is two dots (`_narrow_jvp`): transposing the multiply-adds
    would read the output's gradient once per input column.

    References: benchmarks/results/symmetry_aware_speed.md (time with and without).
    """
    last = x.shape[-1] - 1
    out = x[..., last:] * kernel[last]
    for i in reversed(range(last)):
        out = out + x[..., i:i + 1] * kernel[i]
    return out


@narrow_matmul.defjvp
def _narrow_jvp(primals, tangents):
    (x, kernel), (dx, dkernel) = primals, tangents
    return narrow_matmul(x, kernel), dx @ kernel + x @ dkernel


def _store_matmul(x, kernel):
    """x [n, S, F] @ kernel [F, H] for the shared store net: a narrow layer by
    `narrow_matmul`, any other by one dot over all n x S rows."""
    if x.shape[-1] <= NARROW_FAN_IN:
        return narrow_matmul(x, kernel)
    return jnp.einsum("nsf,fh->nsh", x, kernel)


class StoreDense(nn.Module):
    """Dense layer applied along the stores axis: one kernel for all stores (`stack`
    = 0) or one per store (`stack` = S). Called with `context`, it is the first layer
    over [own features, context], factored or naive."""

    features: int
    stack: int = 0

    @nn.compact
    def __call__(self, x, context=None, factored=True):  # x [n, S, F], context [n, C]
        batch = (self.stack,) if self.stack else ()
        fan_in = x.shape[-1] + (0 if context is None else context.shape[-1])
        init = nn.initializers.lecun_normal(batch_axis=(0,) if self.stack else ())
        kernel = self.param("kernel", init, batch + (fan_in, self.features))
        bias = self.param("bias", nn.initializers.zeros_init(), batch + (self.features,))
        matmul = functools.partial(jnp.einsum, "nsf,sfh->nsh") if self.stack else _store_matmul
        if context is None:
            return matmul(x, kernel) + bias
        if not factored:
            tiled = jnp.broadcast_to(context[:, None, :], x.shape[:2] + context.shape[-1:])
            return matmul(jnp.concatenate([x, tiled], -1), kernel) + bias
        f = x.shape[-1]
        own = matmul(x, kernel[..., :f, :])
        if self.stack:  # one context block per store: nothing to share
            shared = jnp.einsum("nc,sch->nsh", context, kernel[..., f:, :])
        else:  # once per scenario, broadcast over stores
            shared = saved_if_wide(context @ kernel[f:, :], context.shape[-1])[:, None, :]
        return own + shared + bias


class StoreNet(nn.Module):
    """Per-store MLP over [own features, context]; the last layer is linear."""

    features: tuple[int, ...]
    activation: str
    stack: int = 0
    factored: bool = True

    @nn.compact
    def __call__(self, x, context):
        act = activation_fn(self.activation)
        for i, width in enumerate(self.features):
            layer = StoreDense(width, self.stack, name=f"layers_{i}")
            x = layer(x, context, self.factored) if i == 0 else layer(x)
            if i < len(self.features) - 1:
                x = act(x)
        return x
