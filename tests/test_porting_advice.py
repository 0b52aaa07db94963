"""The porting advice in the expectation files, run on the real frameworks (no mocks).

An expectation entry's `porting: {to: ..., from: ...}` fields tell a user what to change when porting dropout code
to or from a framework; `python -m conformance porting A B` prints them as a checklist's "change:" lines. This file
runs the advised code on torch, MLX, Flax (nnx and linen) and JAX and checks the effect the advice claims, plus
the facts the advice states about the frameworks (which ranks they take, what a dropped NaN becomes, ...).
Each test's docstring names the expectation entry it checks: the file and a phrase of its advice.

Masks are read from the output: with inputs of ones a dropped unit is exactly 0 and a kept one 1/(1-p), so "the
mask varies along axis k" is decided exactly, on shapes where p = 0.5 gives >= 64 decisions and every varying axis
varies with overwhelming probability. The few statistical checks count >= 2**16 draws and allow 8 standard
deviations, so a correct framework essentially never fails them. Every framework is seeded, so runs repeat.
"""
from __future__ import annotations

import inspect
import json
import math
import subprocess
import sys
import textwrap
import types
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import pytest

P = 0.5
ALPHA_ = -1.7580993408473766  # -scale * alpha of SELU, the dropped value before the affine map (PyTorch's constant)
SIGMAS = 8  # statistical bounds: 8 standard deviations, a false alarm with probability < 1e-15
BIG = 2**20  # draws for the kept share at p = 0.999 (mean 1049, sd 32)


# ---- helpers


def varying_axes(y: np.ndarray) -> tuple[int, ...]:
    """The axes along which the output is not constant (ones in: dropped units are 0, kept ones 1/(1-p))."""
    return tuple(k for k in range(y.ndim) if y.shape[k] > 1 and bool((np.ptp(y, axis=k) != 0).any()))


def assert_plain_dropout(y: np.ndarray, p: float = P) -> None:
    """Dropout of ones: every value is 0 or 1/(1-p), and both occur."""
    assert set(np.unique(y).tolist()) == {0.0, 1 / (1 - p)}


def assert_share_near(kept: int, n: int, q: float) -> None:
    """`kept` of `n` Bernoulli(q) draws lies within SIGMAS standard deviations of n q."""
    assert abs(kept - n * q) <= SIGMAS * math.sqrt(n * q * (1 - q)), (kept, n, q)


def selu_affine(p: float) -> tuple[float, float]:
    """The advised constants: a = ((1 - p) * (1 + p * alpha_**2)) ** -0.5 and b = -a * alpha_ * p."""
    a = ((1 - p) * (1 + p * ALPHA_**2)) ** -0.5
    return a, -a * ALPHA_ * p


def keep_shape(shape: Sequence[int], feature: bool) -> tuple[int, ...]:
    """One draw per unit, or per (sample, channel) of a channels-last input: (N, 1, ..., 1, C)."""
    return (shape[0], *[1] * (len(shape) - 2), shape[-1]) if feature else tuple(shape)


def mlx_alpha_dropout(mx: Any, x: Any, p: float, training: bool, feature: bool = False) -> Any:
    """mlx.yaml's advice, verbatim: keep = mx.random.bernoulli(1 - p, shape); a * mx.where(keep, x, alpha_) + b."""
    if not training:
        return x
    keep = mx.random.bernoulli(1 - p, keep_shape(x.shape, feature))
    a, b = selu_affine(p)
    return a * mx.where(keep, x, ALPHA_) + b


def jax_alpha_dropout(jax: Any, key: Any, x: Any, p: float, training: bool, feature: bool = False) -> Any:
    """flax.yaml's advice, verbatim: keep = jax.random.bernoulli(key, 1 - p, shape); a * jnp.where(...) + b."""
    if not training:
        return x
    keep = jax.random.bernoulli(key, 1 - p, keep_shape(x.shape, feature))
    a, b = selu_affine(p)
    return a * jax.numpy.where(keep, x, ALPHA_) + b


def alpha_kept(y: np.ndarray, x: np.ndarray, p: float) -> np.ndarray:
    """Where y is a*x + b; asserts every other element is the dropped value a*alpha_ + b (x in [0, 1))."""
    a, b = selu_affine(p)
    kept = np.isclose(y, a * x.astype(np.float64) + b, rtol=1e-5, atol=1e-6)
    assert np.allclose(y[~kept], a * ALPHA_ + b, rtol=1e-5, atol=1e-6)
    assert kept.any() and (~kept).any()
    return kept


def unit_floats(shape: Sequence[int], seed: int = 0) -> np.ndarray:
    """float32 values in [0, 1): a*x + b stays far from the dropped value a*alpha_ + b."""
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def torch_np(t: Any) -> np.ndarray:
    return t.detach().float().numpy()


def mlx_np(mx: Any, y: Any) -> np.ndarray:
    return np.array(y.astype(mx.float32))


def jax_np(y: Any) -> np.ndarray:
    """float32 numpy copy, converted by numpy (an XLA conversion would flush subnormals itself)."""
    return np.asarray(y).astype(np.float32)


# ---- the frameworks (each test skips when its framework is not installed)


@pytest.fixture(scope="module")
def torch() -> Any:
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    return torch


@pytest.fixture(scope="module")
def F(torch: Any) -> Any:
    return torch.nn.functional


@pytest.fixture(scope="module")
def mx() -> Any:
    mx = pytest.importorskip("mlx.core")
    mx.random.seed(0)
    return mx


@pytest.fixture(scope="module")
def mnn(mx: Any) -> Any:
    return pytest.importorskip("mlx.nn")


@pytest.fixture(scope="module")
def jax() -> Any:
    return pytest.importorskip("jax")


@pytest.fixture(scope="module")
def nnx(jax: Any) -> Any:
    return pytest.importorskip("flax.nnx")


@pytest.fixture(scope="module")
def linen(jax: Any) -> Any:
    return pytest.importorskip("flax.linen")


@pytest.fixture
def compiled(torch: Any) -> Iterator[Callable[[Callable], Callable]]:
    """torch.compile with a clean Dynamo state before and after."""
    torch._dynamo.reset()
    yield torch.compile
    torch._dynamo.reset()


def flax_dropout(kind: str, rate: float, broadcast_dims: Sequence[int] = (), seed: int = 0) -> Callable[[Any], Any]:
    """A training-mode Flax Dropout(rate, broadcast_dims), nnx or linen, as a function of x."""
    jax = pytest.importorskip("jax")
    if kind == "nnx":
        nnx = pytest.importorskip("flax.nnx")
        layer = nnx.Dropout(rate, broadcast_dims=broadcast_dims, rngs=nnx.Rngs(dropout=seed))
        return lambda x: layer(x)
    linen = pytest.importorskip("flax.linen")
    layer = linen.Dropout(rate, broadcast_dims=broadcast_dims, deterministic=False)
    return lambda x: layer.apply({}, x, rngs={"dropout": jax.random.key(seed)})


def linen_apply(rate: float) -> Callable[[Any, Any], Any]:
    """A training-mode linen.Dropout(rate), applied with an explicit 'dropout' key: f(x, key)."""
    linen = pytest.importorskip("flax.linen")
    layer = linen.Dropout(rate, deterministic=False)
    return lambda x, key: layer.apply({}, x, rngs={"dropout": key})


FLAX_KINDS = pytest.mark.parametrize("kind", ["nnx", "linen"])


# ---- alpha dropout, written from Bernoulli draws (mlx.yaml, flax.yaml: "Write it from ... bernoulli")


def test_mlx_alpha_dropout_recipe_matches_torch(mx: Any, F: Any, torch: Any) -> None:
    """mlx.yaml alpha_dropout: "Write it from mx.random.bernoulli with PyTorch's constants"; the values are torch's."""
    x = unit_floats((2**16,))
    y = mlx_np(mx, mlx_alpha_dropout(mx, mx.array(x), 0.3, training=True))
    kept = alpha_kept(y, x, 0.3)
    yt = torch_np(F.alpha_dropout(torch.from_numpy(x), 0.3, True))
    kept_t = alpha_kept(yt, x, 0.3)
    assert len(np.unique(yt[~kept_t])) == 1  # torch's dropped value is one constant
    assert np.allclose(yt[~kept_t][0], y[~kept][0], rtol=1e-6)
    assert_share_near(int(kept.sum()), x.size, 0.7)


def test_jax_alpha_dropout_recipe_matches_torch(jax: Any, F: Any, torch: Any) -> None:
    """flax.yaml alpha_dropout: "Write it from jax.random.bernoulli with PyTorch's constants"; torch's values."""
    x = unit_floats((2**16,))
    y = jax_np(jax_alpha_dropout(jax, jax.random.key(0), jax.numpy.asarray(x), 0.3, training=True))
    kept = alpha_kept(y, x, 0.3)
    yt = torch_np(F.alpha_dropout(torch.from_numpy(x), 0.3, True))
    kept_t = alpha_kept(yt, x, 0.3)
    assert np.allclose(yt[~kept_t][0], y[~kept][0], rtol=1e-6)
    assert_share_near(int(kept.sum()), x.size, 0.7)


def check_feature_alpha(y: np.ndarray, x: np.ndarray, F: Any, torch: Any) -> None:
    """One decision per (sample, channel) of (N, H, W, C), shared over H and W; torch's values on NCHW agree."""
    kept = alpha_kept(y, x, P)
    assert varying_axes(kept.astype(np.float32)) == (0, 3)
    yt = torch_np(F.feature_alpha_dropout(torch.from_numpy(x).permute(0, 3, 1, 2), P, True)).transpose(0, 2, 3, 1)
    kept_t = alpha_kept(yt, x, P)
    assert varying_axes(kept_t.astype(np.float32)) == (0, 3)
    assert np.allclose(yt[~kept_t][0], y[~kept][0], rtol=1e-6)


def test_mlx_feature_alpha_dropout_recipe(mx: Any, F: Any, torch: Any) -> None:
    """mlx.yaml alpha_dropout: "feature alpha dropout: one draw per channel, shape (N, 1, ..., 1, C)"."""
    x = unit_floats((16, 3, 3, 16))
    check_feature_alpha(mlx_np(mx, mlx_alpha_dropout(mx, mx.array(x), P, True, feature=True)), x, F, torch)


def test_jax_feature_alpha_dropout_recipe(jax: Any, F: Any, torch: Any) -> None:
    """flax.yaml alpha_dropout: "feature alpha dropout: one draw per channel, shape (N, 1, ..., 1, C)"."""
    x = unit_floats((16, 3, 3, 16))
    y = jax_alpha_dropout(jax, jax.random.key(1), jax.numpy.asarray(x), P, True, feature=True)
    check_feature_alpha(jax_np(y), x, F, torch)


def test_alpha_dropout_recipes_return_x_in_eval(mx: Any, jax: Any, F: Any, torch: Any) -> None:
    """mlx.yaml, flax.yaml alpha_dropout: "return x unchanged in eval mode", as torch's alpha_dropout does."""
    x = unit_floats((64,))
    assert np.array_equal(mlx_np(mx, mlx_alpha_dropout(mx, mx.array(x), P, training=False)), x)
    assert np.array_equal(jax_np(jax_alpha_dropout(jax, jax.random.key(0), jax.numpy.asarray(x), P, False)), x)
    assert np.array_equal(torch_np(F.alpha_dropout(torch.from_numpy(x), P, False)), x)


def test_alpha_recipe_drops_nan_to_the_dropped_value(jax: Any, F: Any, torch: Any) -> None:
    """torch.yaml sweep non-finite, from: "the target gives the dropped value (... a alpha' + b for alpha dropout)"."""
    a, b = selu_affine(P)
    for value in (np.nan, np.inf):
        x = np.full(2**16, value, dtype=np.float32)
        y = jax_np(jax_alpha_dropout(jax, jax.random.key(0), jax.numpy.asarray(x), P, True))
        dropped = np.isfinite(y)
        assert dropped.any() and (~dropped).any()
        assert np.allclose(y[dropped], a * ALPHA_ + b)
        assert np.array_equal(y[~dropped], a * x[~dropped] + b, equal_nan=True)
        # torch's dropped units come out NaN, not a alpha' + b: nothing finite appears
        assert not np.isfinite(torch_np(F.alpha_dropout(torch.from_numpy(x), P, True))).any()


# ---- MLX: what it lacks (mlx.yaml "not-offered" entries)


def test_mlx_has_only_three_dropout_modules(mx: Any, mnn: Any) -> None:
    """mlx.yaml: "MLX has no alpha dropout", "no Dropout1d", "dropout only as modules (mlx.nn), no functional form"."""
    classes = {n for n in dir(mnn) if "dropout" in n.lower() and isinstance(getattr(mnn, n), type)}
    assert classes == {"Dropout", "Dropout2d", "Dropout3d"}
    for ns in (mnn, mx, mx.random):
        functions = [n for n in dir(ns) if "dropout" in n.lower() and callable(getattr(ns, n))
                     and not isinstance(getattr(ns, n), (type, types.ModuleType))]
        assert functions == []  # mlx.nn.dropout exists, but it is the submodule mlx.nn.layers.dropout


def test_mlx_dropout1d_recipe_batched(mx: Any, mnn: Any, torch: Any) -> None:
    """mlx.yaml dropout1d: "nn.Dropout2d(p)(x.transpose(0, 2, 1)[:, None])[:, 0] gives (N, L, C) with one decision per
    sample and channel, shared along L (transpose back with .transpose(0, 2, 1))"; torch's Dropout1d agrees."""
    x = mx.ones((16, 16, 8))  # PyTorch's (N, C, L)
    y = mnn.Dropout2d(P)(x.transpose(0, 2, 1)[:, None])[:, 0]
    assert y.shape == (16, 8, 16)
    assert_plain_dropout(mlx_np(mx, y))
    assert varying_axes(mlx_np(mx, y)) == (0, 2)
    back = mlx_np(mx, y.transpose(0, 2, 1))
    assert back.shape == (16, 16, 8) and varying_axes(back) == (0, 1)
    assert varying_axes(torch_np(torch.nn.Dropout1d(P)(torch.ones(16, 16, 8)))) == (0, 1)


def test_mlx_dropout1d_recipe_unbatched(mx: Any, mnn: Any) -> None:
    """mlx.yaml dropout1d: "an unbatched (C, L) input is x.T[None] (one (1, L, C) image)": one decision per channel."""
    x = mx.ones((64, 8))  # PyTorch's unbatched (C, L)
    y = mnn.Dropout2d(P)(x.T[None])
    assert y.shape == (1, 8, 64)
    assert_plain_dropout(mlx_np(mx, y))
    assert varying_axes(mlx_np(mx, y)) == (2,)


def test_mlx_dropout_modules_have_no_inplace(mx: Any, mnn: Any) -> None:
    """mlx.yaml inplace: "Drop inplace=True and use the returned array (x = dropout(x))"."""
    for cls in (mnn.Dropout, mnn.Dropout2d, mnn.Dropout3d):
        assert list(inspect.signature(cls).parameters) == ["p"]
        with pytest.raises(TypeError):
            cls(P, inplace=True)
    x = mx.ones((8, 4, 4, 8))
    y = mnn.Dropout2d(P)(x)
    assert np.all(mlx_np(mx, x) == 1) and (mlx_np(mx, y) == 0).any()  # the input is untouched, the result returned


def test_mlx_modules_switch_with_train_and_eval(mx: Any, mnn: Any) -> None:
    """mlx.yaml functional form: "modules built once (nn.Dropout(p), nn.Dropout2d(p), nn.Dropout3d(p)), switched
    with model.train() and model.eval()"."""

    class Net(mnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.drop, self.drop2d, self.drop3d = mnn.Dropout(P), mnn.Dropout2d(P), mnn.Dropout3d(P)

        def __call__(self, x4: Any, x5: Any) -> tuple[Any, Any, Any]:
            return self.drop(x4), self.drop2d(x4), self.drop3d(x5)

    net, x4, x5 = Net(), mx.ones((8, 4, 4, 8)), mx.ones((8, 2, 2, 2, 8))
    net.train()
    dropped = [mlx_np(mx, y) for y in net(x4, x5)]
    for y in dropped:
        assert_plain_dropout(y)
    assert [varying_axes(y) for y in dropped] == [(0, 1, 2, 3), (0, 3), (0, 4)]
    net.eval()
    assert not net.drop.training and not net.drop3d.training
    for y, x in zip(net(x4, x5), (x4, x4, x5)):
        assert np.array_equal(mlx_np(mx, y), mlx_np(mx, x))


def test_mlx_rejects_p_one_and_p_outside_range(mx: Any, mnn: Any) -> None:
    """mlx.yaml p = 1: "raise ValueError for p = 1 at construction" ("MLX code never builds a dropout with p = 1");
    torch.yaml p-validation, from: "the target raises ValueError for p outside [0, 1]"."""
    for cls in (mnn.Dropout, mnn.Dropout2d, mnn.Dropout3d):
        for p in (1.0, 1.1, -0.1):
            with pytest.raises(ValueError):
                cls(p)


def mlx_guarded_dropout(mx: Any, mnn: Any, x: Any, p: float, training: bool) -> Any:
    """mlx.yaml's guard: build the module only for p < 1; at p = 1 zeros in training mode, x in eval mode."""
    if p == 1:
        return mx.zeros_like(x) if training else x
    module = mnn.Dropout(p)
    module.train(training)
    return module(x)


def test_mlx_p_one_guard(mx: Any, mnn: Any, F: Any, torch: Any) -> None:
    """mlx.yaml p = 1: "Guard p = 1 yourself ... at p = 1 return mx.zeros_like(x) in training mode (x in eval mode)"."""
    x = unit_floats((8, 8))
    y = mlx_np(mx, mlx_guarded_dropout(mx, mnn, mx.array(x), 1.0, training=True))
    assert np.array_equal(y, torch_np(F.dropout(torch.from_numpy(x), 1.0, True))) and not y.any()
    assert np.array_equal(mlx_np(mx, mlx_guarded_dropout(mx, mnn, mx.array(x), 1.0, training=False)), x)
    assert (mlx_np(mx, mlx_guarded_dropout(mx, mnn, mx.ones((64,)), P, training=True)) == 0).any()
    assert np.array_equal(mlx_np(mx, mlx_guarded_dropout(mx, mnn, mx.array(x), P, training=False)), x)


# ---- MLX: ranks and layout (mlx.yaml dropout2d-3d-batched-ncl, dropout2d-layout-nchw; torch.yaml sweep-input-rank)


def test_mlx_dropout2d_reads_3d_as_unbatched_image(mx: Any, mnn: Any, torch: Any) -> None:
    """mlx.yaml dropout2d-3d-batched-ncl: 3D input is "an unbatched image ... the mask varies along C only"; from:
    "a target that reads 3D input as (N, C, L), as PyTorch does, drops whole rows of it instead"."""
    y = mlx_np(mx, mnn.Dropout2d(P)(mx.ones((8, 8, 64))))
    assert_plain_dropout(y)
    assert varying_axes(y) == (2,)
    with pytest.warns(UserWarning, match="3D input"):
        yt = torch_np(torch.nn.Dropout2d(P)(torch.ones(8, 8, 64)))
    assert varying_axes(yt) == (0, 1)  # one decision per (h, w): whole rows along C


def test_mlx_ncl_recipe_for_dropout2d_on_3d(mx: Any, mnn: Any, torch: Any) -> None:
    """mlx.yaml dropout2d-3d-batched-ncl, to: "For PyTorch's 3D (N, C, L) channel dropout (... Dropout2d given 3D
    input) ... drops per sample and channel, shared along L" - as PyTorch's nn.Dropout2d on (N, C, L) does."""
    x = mx.ones((16, 16, 8))
    y = mlx_np(mx, mnn.Dropout2d(P)(x.transpose(0, 2, 1)[:, None])[:, 0].transpose(0, 2, 1))
    assert varying_axes(y) == (0, 1)
    with pytest.warns(UserWarning, match="3D input"):
        assert varying_axes(torch_np(torch.nn.Dropout2d(P)(torch.ones(16, 16, 8)))) == (0, 1)


@pytest.mark.parametrize("rank", [1, 2, 5, 6])
def test_mlx_dropout2d_rejects_ranks(mx: Any, mnn: Any, rank: int) -> None:
    """torch.yaml sweep-input-rank dropout2d, from: "its Dropout2d rejects 2D, 5D and 6D input" (mlx.yaml: ValueError;
    mlx -> torch: "where the source raised")."""
    with pytest.raises(ValueError):
        mnn.Dropout2d(P)(mx.ones((2,) * rank))


@pytest.mark.parametrize("rank", [1, 2, 3, 6])
def test_mlx_dropout3d_rejects_ranks(mx: Any, mnn: Any, rank: int) -> None:
    """torch.yaml sweep-input-rank dropout3d, from: "Give the target's Dropout3d the 4D or 5D volume its docs name (it
    rejects other ranks)"; torch.yaml, to: "where the source raised"."""
    with pytest.raises(ValueError):
        mnn.Dropout3d(P)(mx.ones((2,) * rank))


def test_mlx_element_dropout_for_2d(mx: Any, mnn: Any) -> None:
    """torch.yaml sweep-input-rank dropout2d, from: "element-wise dropout for 2D (N, C)": nn.Dropout on (N, C)."""
    y = mlx_np(mx, mnn.Dropout(P)(mx.ones((16, 16))))
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 1)


def test_mlx_channel_dropout_by_rank_in_its_own_layout(mx: Any, mnn: Any) -> None:
    """torch.yaml sweep-input-rank dropout2d, from: "for more axes the target's channel dropout in its own layout
    (MLX and Flax are channels-last, (N, *spatial, C), and MLX has no Dropout1d...)": PyTorch's one decision per
    (n, c) of an (N, C, D, H, W) input is MLX's Dropout3d on the NDHWC permutation (NCDHW fed as is is dropped per
    (N, W))."""
    assert not hasattr(mnn, "Dropout1d")
    x = mx.ones((8, 8, 3, 3, 8))  # (N, C, D, H, W)
    assert varying_axes(mlx_np(mx, mnn.Dropout3d(P)(x))) == (0, 4)
    y = mlx_np(mx, mnn.Dropout3d(P)(x.transpose(0, 2, 3, 4, 1)).transpose(0, 4, 1, 2, 3))
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 1)


def test_mlx_nchw_fed_to_dropout2d_drops_columns(mx: Any, mnn: Any) -> None:
    """mlx.yaml dropout2d-layout-nchw: "NCHW data fed to nn.Dropout2d is dropped per (N, W) column"."""
    assert varying_axes(mlx_np(mx, mnn.Dropout2d(P)(mx.ones((8, 8, 4, 8))))) == (0, 3)


def test_mlx_permute_nchw_to_nhwc(mx: Any, mnn: Any) -> None:
    """mlx.yaml dropout2d-layout-nchw: "Permute NCHW to NHWC before nn.Dropout2d (x.transpose(0, 2, 3, 1), back with
    .transpose(0, 3, 1, 2))"; torch.yaml dropout2d-layout-nhwc, from: "permute it to NHWC before channel dropout"."""
    x = mx.ones((8, 8, 4, 4))
    y = mnn.Dropout2d(P)(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    assert y.shape == x.shape
    assert_plain_dropout(mlx_np(mx, y))
    assert varying_axes(mlx_np(mx, y)) == (0, 1)


def test_mlx_dropout3d_takes_ndhwc(mx: Any, mnn: Any) -> None:
    """mlx.yaml dropout2d-layout-nchw: "nn.Dropout3d likewise takes NDHWC": one decision per (n, c) over D, H, W;
    torch.yaml sweep-input-rank dropout3d, from: "with the channel axis where it expects it" (unbatched 4D too)."""
    y = mlx_np(mx, mnn.Dropout3d(P)(mx.ones((8, 2, 3, 3, 8))))
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 4)
    assert varying_axes(mlx_np(mx, mnn.Dropout3d(P)(mx.ones((2, 3, 3, 64))))) == (3,)


def test_mlx_bfloat16_keeps_share_at_p_0999(mx: Any, mnn: Any) -> None:
    """torch.yaml compiled bfloat16 p = 0.999, from: "the target keeps a share 1 - p where compiled PyTorch zeroed"."""
    y = mlx_np(mx, mnn.Dropout(0.999)(mx.ones((BIG,), dtype=mx.bfloat16)))
    assert_share_near(int((y != 0).sum()), BIG, 0.001)


# ---- torch: ranks and layout (torch.yaml dropout2d-3d-unbatched, sweep-input-rank, dropout2d-layout-nhwc)


def test_torch_dropout2d_on_3d_drops_rows(torch: Any) -> None:
    """torch.yaml dropout2d-3d-unbatched, from: "PyTorch's nn.Dropout2d on a 3D (N, C, L) input is 1D channel
    dropout (one decision per sample and channel, shared along L)"; reason: with a UserWarning."""
    with pytest.warns(UserWarning, match="3D input"):
        y = torch_np(torch.nn.Dropout2d(P)(torch.ones(16, 16, 8)))
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 1)


def test_torch_unsqueeze_unbatched_chw_and_dropout1d(torch: Any) -> None:
    """torch.yaml dropout2d-3d-unbatched, to: "give it an unbatched (C, H, W) image as x.unsqueeze(0) (and take [0]
    after), and use nn.Dropout1d for (N, C, L) data"."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the advised calls do not warn
        y = torch_np(torch.nn.Dropout2d(P)(torch.ones(64, 4, 4).unsqueeze(0))[0])
        y1 = torch_np(torch.nn.Dropout1d(P)(torch.ones(16, 16, 8)))
    assert y.shape == (64, 4, 4) and varying_axes(y) == (0,)
    assert_plain_dropout(y1)
    assert varying_axes(y1) == (0, 1)


@pytest.mark.parametrize("shape", [(16, 16), (8, 8, 2, 2, 2), (8, 8, 2, 2, 2, 2)], ids=["2d", "5d", "6d"])
def test_torch_dropout2d_takes_odd_ranks(torch: Any, shape: tuple[int, ...]) -> None:
    """torch.yaml sweep-input-rank dropout2d, to: "it takes 2D, 5D and 6D input with a warning, one decision per
    index of the first two axes"."""
    with pytest.warns(UserWarning, match="deprecated"):
        y = torch_np(torch.nn.Dropout2d(P)(torch.ones(shape)))
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 1)


def test_torch_dropout2d_takes_4d_without_warning(torch: Any) -> None:
    """torch.yaml sweep-input-rank dropout2d, to: "Give nn.Dropout2d 4D (N, C, H, W) input": no warning, one decision
    per (n, c) (the unbatched x.unsqueeze(0) case: test_torch_unsqueeze_unbatched_chw_and_dropout1d)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = torch_np(torch.nn.Dropout2d(P)(torch.ones(8, 8, 4, 4)))
    assert varying_axes(y) == (0, 1)


@pytest.mark.parametrize("shape", [(64,), (64, 4), (64, 4, 4), (64, 2, 2, 2, 2, 2)], ids=["1d", "2d", "3d", "6d"])
def test_torch_dropout3d_takes_odd_ranks(torch: Any, shape: tuple[int, ...]) -> None:
    """torch.yaml sweep-input-rank dropout3d, to: "it takes 1D, 2D, 3D and 6D input with a warning, one decision per
    index of the first axis"; from: "read it as one unbatched sample whose first axis holds the channels"."""
    with pytest.warns(UserWarning, match="deprecated"):
        y = torch_np(torch.nn.Dropout3d(P)(torch.ones(shape)))
    assert y.shape == shape
    assert_plain_dropout(y)
    assert varying_axes(y) == (0,)


def test_torch_dropout3d_takes_ncdhw(torch: Any) -> None:
    """torch.yaml sweep-input-rank dropout3d, to: "Give nn.Dropout3d 5D (N, C, D, H, W) or unbatched 4D (C, D, H, W)
    input"; dropout2d-layout-nhwc, to: "nn.Dropout3d likewise takes NCDHW"."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y5 = torch_np(torch.nn.Dropout3d(P)(torch.ones(8, 8, 2, 3, 3)))
        y4 = torch_np(torch.nn.Dropout3d(P)(torch.ones(64, 2, 3, 3)))
    assert varying_axes(y5) == (0, 1) and varying_axes(y4) == (0,)


def test_torch_dropout2d_raises_for_1d(torch: Any, F: Any) -> None:
    """torch.yaml dropout2d-rank1, from: "PyTorch raised for 1D input to Dropout2d" (reason: after a warning)."""
    with pytest.warns(UserWarning, match="deprecated"), pytest.raises(RuntimeError, match="at least 2 dimensions"):
        F.dropout2d(torch.ones(64), P, True)


def test_torch_nhwc_fed_to_dropout2d_drops_rows(torch: Any, F: Any) -> None:
    """torch.yaml dropout2d-layout-nhwc: "NHWC data fed to F.dropout2d is dropped per (N, H) row"."""
    assert varying_axes(torch_np(F.dropout2d(torch.ones(8, 8, 4, 8), P, True))) == (0, 1)


def test_torch_permute_nhwc_to_nchw(torch: Any) -> None:
    """torch.yaml dropout2d-layout-nhwc, to: "Permute NHWC to NCHW before nn.Dropout2d (x.permute(0, 3, 1, 2), back
    with .permute(0, 2, 3, 1))"; mlx.yaml dropout2d-layout-nchw, from: "permute it to NCHW ... and back after"."""
    x = torch.ones(8, 4, 4, 8)
    y = torch_np(torch.nn.Dropout2d(P)(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1))
    assert y.shape == (8, 4, 4, 8)
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 3)


def test_torch_batches_an_mlx_hwc_image(torch: Any, mx: Any, mnn: Any) -> None:
    """mlx.yaml dropout2d-3d-batched-ncl, from: "MLX code that gives nn.Dropout2d a 3D input means one unbatched
    (H, W, C) image: add the batch axis on the target (in its channel layout)": the same per-channel decisions."""
    x = torch.ones(8, 8, 64)  # (H, W, C)
    y = torch_np(torch.nn.Dropout2d(P)(x.permute(2, 0, 1).unsqueeze(0))[0].permute(1, 2, 0))
    assert y.shape == (8, 8, 64) and varying_axes(y) == (2,)
    assert varying_axes(mlx_np(mx, mnn.Dropout2d(P)(mx.ones((8, 8, 64))))) == (2,)


# ---- torch: non-finite input (torch.yaml dropout-non-finite, channel-dropout-non-finite, sweep non-finite)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "neg_inf"])
def test_torch_dropped_nonfinite_element_is_nan(torch: Any, F: Any, value: float) -> None:
    """torch.yaml dropout-non-finite, to: "a NaN (on the CPU also a +-Inf) in a dropped unit comes out NaN"."""
    y = torch_np(F.dropout(torch.full((2**16,), value), P, True))
    assert not (y == 0).any()  # half the units are dropped, none of them is zero
    assert np.isnan(y).any()
    if not np.isnan(value):
        assert np.array_equal(np.unique(y[~np.isnan(y)]), [value])  # kept +-Inf stay, dropped ones became NaN


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "neg_inf"])
def test_torch_dropped_nonfinite_channel_is_nan(torch: Any, F: Any, value: float) -> None:
    """torch.yaml channel-dropout-non-finite, to: "a NaN (on the CPU also a +-Inf) in a dropped unit comes out NaN"."""
    x = torch.ones(16, 16, 2, 2)
    x[:, :, 0, 0] = value  # one non-finite element per channel; the rest shows the channel's decision
    y = torch_np(F.dropout2d(x, P, True))
    dropped = y[:, :, 1, 1] == 0
    assert dropped.any() and (~dropped).any()
    assert np.isnan(y[:, :, 0, 0][dropped]).all()


def test_torch_nan_to_num_before_dropout(torch: Any, F: Any) -> None:
    """torch.yaml dropout-non-finite, channel-dropout-non-finite, sweep non-finite, to: "torch.nan_to_num(x, nan=0.0,
    posinf=M, neginf=-M), M small enough that M / (1 - p) stays finite (its defaults give +-max, which the 1/(1-p)
    scale overflows back to +-Inf)": with such an M every output is finite and dropped units are 0; with the
    defaults a kept +-Inf comes back +-Inf."""
    m = 1e30
    x = torch.tensor([np.nan, np.inf, -np.inf, 1.0]).repeat(2**14)
    y = torch_np(F.dropout(torch.nan_to_num(x, nan=0.0, posinf=m, neginf=-m), P, True))
    assert np.isfinite(y).all() and (y == 0).any()
    assert np.isinf(torch_np(F.dropout(torch.nan_to_num(x), P, True))).any()
    xc = torch.ones(16, 16, 2, 2)
    xc[:, :, 0, 0], xc[:, :, 0, 1], xc[:, :, 1, 0] = np.nan, np.inf, -np.inf
    yc = torch_np(F.dropout2d(torch.nan_to_num(xc, nan=0.0, posinf=m, neginf=-m), P, True))
    dropped = yc[:, :, 1, 1] == 0
    assert dropped.any() and np.isfinite(yc).all() and not yc[dropped].any()


def test_torch_eager_p_one_keeps_nan(torch: Any, F: Any) -> None:
    """torch.yaml sweep non-finite, to: "in eager mode at p = 1 the output is NaN wherever the input was"."""
    x = torch.tensor([np.nan, np.inf, -np.inf, 1.0])
    for y in (F.dropout(x, 1.0, True), F.dropout2d(x.reshape(1, 4, 1, 1), 1.0, True).reshape(4)):
        y = torch_np(y)
        assert np.isnan(y[:3]).all() and y[3] == 0


# ---- torch: p validation and torch.compile (torch.yaml p-validation, compiled bfloat16 p = 0.999)


@pytest.mark.parametrize("p", [1.1, -0.1])
def test_torch_eager_rejects_bad_p(torch: Any, F: Any, p: float) -> None:
    """torch.yaml p-validation: "eager code catches ValueError for a bad p from F.dropout*", "nn.Dropout* modules raise
    ValueError when built"; flax.yaml and torch.yaml p-validation, from: "ValueError in eager PyTorch and MLX"."""
    x = torch.ones(2, 4, 4, 4, 4)
    for fn in (F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.feature_alpha_dropout):
        with pytest.raises(ValueError):
            fn(x[0, 0] if fn is F.dropout1d else x, p, True)
    for cls in (torch.nn.Dropout, torch.nn.Dropout1d, torch.nn.Dropout2d, torch.nn.Dropout3d, torch.nn.AlphaDropout):
        with pytest.raises(ValueError):
            cls(p)


@pytest.mark.slow
def test_torch_compiled_bad_p_raises_runtime_error(torch: Any, F: Any, compiled: Callable) -> None:
    """torch.yaml p-validation, to: "Under torch.compile, catch RuntimeError (torch._dynamo.exc.TorchRuntimeError)
    where eager code catches ValueError for a bad p from F.dropout*"."""
    for fn in (lambda x: F.dropout(x, 1.1, True), lambda x: F.dropout2d(x, -0.1, True)):
        with pytest.raises(RuntimeError) as caught:
            compiled(fn)(torch.ones(4, 4, 4))
        assert isinstance(caught.value, torch._dynamo.exc.TorchRuntimeError)
        assert not isinstance(caught.value, ValueError)


@pytest.mark.slow
def test_torch_compiled_dropout2d_1d_raises_runtime_error(torch: Any, F: Any, compiled: Callable) -> None:
    """torch.yaml dropout2d-rank1, compiled: "raised while Dynamo traces ... as torch._dynamo.exc.TorchRuntimeError"."""
    with warnings.catch_warnings(), pytest.raises(torch._dynamo.exc.TorchRuntimeError):
        warnings.simplefilter("ignore")
        compiled(lambda x: F.dropout2d(x, P, True))(torch.ones(64))


@pytest.mark.slow
def test_torch_compiled_bfloat16_p_0999(torch: Any, F: Any, compiled: Callable) -> None:
    """torch.yaml compiled bfloat16 p = 0.999: compiled F.dropout drops every element ("eager draws in full
    precision"); to: "F.dropout(x.float(), p, training).to(x.dtype) keeps a share 1 - p at p = 0.999"."""
    x = torch.ones(BIG, dtype=torch.bfloat16)
    direct = compiled(lambda x: F.dropout(x, 0.999, True))(x)
    assert direct.dtype == torch.bfloat16 and not direct.any()
    advised = compiled(lambda x: F.dropout(x.float(), 0.999, True).to(x.dtype))(x)
    assert advised.dtype == torch.bfloat16
    assert_share_near(int(advised.count_nonzero()), BIG, 0.001)
    assert_share_near(int(F.dropout(x, 0.999, True).count_nonzero()), BIG, 0.001)


# ---- Flax: modules and keys (flax-nnx.yaml, flax-linen.yaml, flax.yaml inplace)


def nnx_net(nnx: Any, seed: int) -> Any:
    """flax-nnx.yaml's advice: a module built once holding nnx.Dropout(p, rngs=nnx.Rngs(dropout=seed))."""

    class Net(nnx.Module):
        def __init__(self) -> None:
            self.drop = nnx.Dropout(P, rngs=nnx.Rngs(dropout=seed))

        def __call__(self, x: Any) -> Any:
            return self.drop(x)

    return Net()


def test_nnx_module_switched_with_train_and_eval(jax: Any, nnx: Any) -> None:
    """flax-nnx.yaml functional form: "nnx.Dropout(p, rngs=nnx.Rngs(dropout=seed)), switched with model.train() and
    model.eval()"; seeding: "nnx.Rngs(dropout=seed) when the model is built; it advances on every call"."""
    x = jax.numpy.ones((16, 16))
    net = nnx_net(nnx, seed=3)
    net.train()
    first, second = jax_np(net(x)), jax_np(net(x))
    assert_plain_dropout(first)
    assert not np.array_equal(first, second)  # the stream advanced
    net.eval()
    assert np.array_equal(jax_np(net(x)), jax_np(x))
    again = nnx_net(nnx, seed=3)
    again.train()
    assert np.array_equal(jax_np(again(x)), first)  # the same seed repeats the first mask


def test_linen_module_applied_with_dropout_key(jax: Any, linen: Any) -> None:
    """flax-linen.yaml functional form: "flax.linen.Dropout(p, deterministic=not training)(x) inside a linen Module,
    and pass the key to apply: model.apply(variables, x, rngs={'dropout': key})"."""

    class Net(linen.Module):
        @linen.compact
        def __call__(self, x: Any, training: bool) -> Any:
            return linen.Dropout(P, deterministic=not training)(x)

    net, x = Net(), jax.numpy.ones((16, 16))
    variables = net.init(jax.random.key(0), x, training=False)
    y = jax_np(net.apply(variables, x, training=True, rngs={"dropout": jax.random.key(1)}))
    assert_plain_dropout(y)
    assert np.array_equal(jax_np(net.apply(variables, x, training=False)), jax_np(x))


def test_linen_fold_in_gives_a_new_mask_per_step(jax: Any) -> None:
    """flax-linen.yaml seeding: "a new key for every step (jax.random.fold_in(key, step), ... or jax.random.split)"."""
    drop, key, x = linen_apply(P), jax.random.key(0), jax.numpy.ones((16, 16))
    masks = [jax_np(drop(x, jax.random.fold_in(key, step))) for step in range(4)]
    assert all(not np.array_equal(a, b) for i, a in enumerate(masks) for b in masks[i + 1:])
    assert np.array_equal(jax_np(drop(x, jax.random.fold_in(key, 2))), masks[2])  # the same key repeats
    k1, k2 = jax.random.split(key)
    assert not np.array_equal(jax_np(drop(x, k1)), jax_np(drop(x, k2)))


def test_flax_dropout_has_no_inplace(jax: Any, nnx: Any, linen: Any) -> None:
    """flax.yaml inplace: "Drop inplace=True and use the returned array (x = dropout(x))"."""
    assert "inplace" not in inspect.signature(nnx.Dropout.__init__).parameters
    assert "inplace" not in inspect.signature(linen.Dropout).parameters
    x = jax.numpy.ones((64,))
    y = flax_dropout("nnx", P)(x)
    assert np.all(jax_np(x) == 1) and (jax_np(y) == 0).any()


# ---- Flax: broadcast_dims (flax.yaml channel-dropout-unbatched, dropout2d-layout-nchw, sweep-input-rank)


@FLAX_KINDS
@pytest.mark.parametrize("shape", [(8, 64), (2, 3, 3, 64)], ids=["L_C", "D_H_W_C"])
def test_flax_unbatched_channels_last(jax: Any, kind: str, shape: tuple[int, ...]) -> None:
    """flax.yaml channel-dropout-unbatched: "An unbatched channels-last input (*spatial, C) shares all axes but the
    last: broadcast_dims=tuple(range(x.ndim - 1))": one decision per channel."""
    x = jax.numpy.ones(shape)
    y = jax_np(flax_dropout(kind, P, tuple(range(x.ndim - 1)))(x))
    assert_plain_dropout(y)
    assert varying_axes(y) == (len(shape) - 1,)


def test_flax_adapter_recipe_on_unbatched_input(jax: Any) -> None:
    """flax.yaml channel-dropout-unbatched, reasons: with broadcast_dims = the middle axes, "(L, C) ... every element
    is its own decision" and "(D, H, W, C) ... the mask varies along D and C"."""
    assert varying_axes(jax_np(flax_dropout("nnx", P, ())(jax.numpy.ones((16, 16))))) == (0, 1)
    assert varying_axes(jax_np(flax_dropout("nnx", P, (1, 2))(jax.numpy.ones((16, 3, 3, 16))))) == (0, 3)


@FLAX_KINDS
def test_flax_channel_dropout_nchw_and_nhwc(jax: Any, kind: str) -> None:
    """flax.yaml dropout2d-layout-nchw: "Dropout(rate, broadcast_dims=<the spatial axes>), (2, 3) for NCHW data and
    (1, 2) for NHWC; or permute NCHW to NHWC first (x.transpose(0, 2, 3, 1))"."""
    nchw = jax.numpy.ones((8, 8, 4, 4))
    y = jax_np(flax_dropout(kind, P, (2, 3))(nchw))
    assert_plain_dropout(y)
    assert varying_axes(y) == (0, 1)
    assert varying_axes(jax_np(flax_dropout(kind, P, (1, 2))(jax.numpy.ones((8, 4, 4, 8))))) == (0, 3)
    permuted = jax_np(flax_dropout(kind, P, (1, 2))(nchw.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    assert varying_axes(permuted) == (0, 1)


@FLAX_KINDS
@pytest.mark.parametrize("rank", [1, 2, 3, 4, 5, 6])
def test_flax_dropout_takes_any_rank(jax: Any, kind: str, rank: int) -> None:
    """flax.yaml sweep-input-rank: "Flax's Dropout takes any rank and shares a decision along exactly the axes in
    broadcast_dims ... (for (N, *spatial, C), the spatial axes). It rejects no rank"."""
    shape = (16,) if rank == 1 else (8, *[2] * (rank - 2), 8)
    y = jax_np(flax_dropout(kind, P, tuple(range(1, rank - 1)))(jax.numpy.ones(shape)))
    assert_plain_dropout(y)
    assert varying_axes(y) == ((0,) if rank == 1 else (0, rank - 1))


# ---- Flax: rate validation, dtypes and values (flax.yaml p-validation, jax-common.yaml)


@FLAX_KINDS
@pytest.mark.parametrize("rate", [1.1, 2.0, -0.1, -1.0])
def test_flax_never_validates_rate(jax: Any, kind: str, rate: float) -> None:
    """flax.yaml p-validation: "A negative rate gives keep_prob > 1: every element is kept and scaled down by
    1/(1 - rate) < 1; a rate above 1 gives keep_prob < 0: everything is dropped"; to: "Check the rate yourself"."""
    x = unit_floats((4096,)) + 1
    for dims in ((), (0,)):
        y = jax_np(flax_dropout(kind, rate, dims)(jax.numpy.asarray(x)))  # no error
        expected = np.zeros_like(x) if rate > 1 else (x / np.float32(1 - rate))
        assert np.allclose(y, expected, rtol=2 * np.finfo(np.float32).eps, atol=0)  # 2 eps, as the specs check


@FLAX_KINDS
def test_flax_float64_becomes_float32_by_default(jax: Any, kind: str) -> None:
    """jax-common.yaml float64: "otherwise expect float32 results from float64 input": kept values are x / (1 - p)
    rounded to float32, and eval returns the converted array."""
    x64 = np.linspace(0.1, 2.0, 4096) + 1e-9
    x = jax.numpy.asarray(x64)
    assert x.dtype == np.float32
    y = np.asarray(flax_dropout(kind, 0.1)(x))
    assert y.dtype == np.float32
    kept = y != 0
    exact = x64[kept] / 0.9
    assert np.max(np.abs(y[kept] - exact) / exact) > 1e3 * np.finfo(np.float64).eps
    evaluated = np.asarray(flax_eval(kind, 0.1)(x))
    assert evaluated.dtype == np.float32 and not np.array_equal(evaluated, x64)


def flax_eval(kind: str, rate: float) -> Callable[[Any], Any]:
    """An eval-mode Flax Dropout(rate): nnx switched with .eval(), linen applied with deterministic=True."""
    if kind == "nnx":
        nnx = pytest.importorskip("flax.nnx")
        layer = nnx.Dropout(rate, rngs=nnx.Rngs(dropout=0))
        layer.eval()
        return lambda x: layer(x)
    linen = pytest.importorskip("flax.linen")
    return lambda x: linen.Dropout(rate).apply({}, x, deterministic=True)


X64_SCRIPT = textwrap.dedent("""
    import json, jax
    jax.config.update("jax_enable_x64", True)  # the advice: at startup, before any array is made
    import numpy as np, jax.numpy as jnp, flax.linen as linen
    from flax import nnx

    def nnx_modes():
        layer = nnx.Dropout(0.1, rngs=nnx.Rngs(dropout=0))
        def evaluate(x):
            layer.eval()
            return layer(x)
        return layer, evaluate

    def linen_modes():
        layer = linen.Dropout(0.1)
        train = lambda x: layer.apply({}, x, deterministic=False, rngs={"dropout": jax.random.key(0)})
        return train, lambda x: layer.apply({}, x, deterministic=True)

    x64, tiny, out = np.linspace(0.1, 2.0, 4096) + 1e-9, np.full(4096, 1e-310), {}  # tiny: float64 subnormals
    for kind, modes in (("nnx", nnx_modes), ("linen", linen_modes)):
        train, evaluate = modes()
        y, sub = np.asarray(train(jnp.asarray(x64))), np.asarray(train(jnp.asarray(tiny)))
        kept = y != 0
        exact = x64[kept] / 0.9
        evaluated = np.asarray(evaluate(jnp.asarray(x64)))
        out[kind] = {"dtype": str(y.dtype), "kept_share": float(kept.mean()),
                     "max_rel_err_eps": float(np.max(np.abs(y[kept] - exact) / exact) / np.finfo(np.float64).eps),
                     "bit_exact": bool(np.array_equal(y[kept], exact)),
                     "eval_dtype": str(evaluated.dtype), "eval_identical": bool(np.array_equal(evaluated, x64)),
                     "eval_subnormal_identical": bool(np.array_equal(np.asarray(evaluate(jnp.asarray(tiny))), tiny)),
                     "subnormal_kept_nonzero": int((sub != 0).sum())}
    print(json.dumps(out))
""")


@pytest.fixture(scope="module")
def x64_results(jax: Any, nnx: Any) -> dict[str, dict[str, Any]]:
    """Flax dropout in a subprocess that enables jax_enable_x64 at startup (this process keeps JAX's defaults)."""
    proc = subprocess.run([sys.executable, "-c", X64_SCRIPT], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@FLAX_KINDS
def test_flax_float64_with_x64(x64_results: dict[str, dict[str, Any]], kind: str) -> None:
    """jax-common.yaml float64: "Where the model needs float64, enable 64-bit types at startup
    (jax.config.update("jax_enable_x64", True), before any array is made)": float64 out, kept values x / (1 - p)
    within the specs' 2 float64 eps, and eval returns the input exactly."""
    r = x64_results[kind]
    assert r["dtype"] == "float64" and r["eval_dtype"] == "float64"
    assert r["max_rel_err_eps"] <= 2 and 0 < r["kept_share"] < 1
    assert r["eval_identical"] and r["eval_subnormal_identical"]


@pytest.mark.slow
@FLAX_KINDS
def test_flax_float64_subnormal_with_x64(x64_results: dict[str, dict[str, Any]], kind: str) -> None:
    """jax-common.yaml float64 (the entry matching sweep-input-values float64 subnormal): "Float64 subnormals come
    out 0 even then (XLA's CPU runtime flushes them)": under x64 every kept float64 subnormal is 0, while normal
    values are kept (test_flax_float64_with_x64)."""
    assert x64_results[kind]["subnormal_kept_nonzero"] == 0


def same_key_outputs(jax: Any, x: Any, rate: float, jit: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """linen Dropout on ones and on x with the same key (the same mask): (mask of kept units, the output on x)."""
    drop = linen_apply(rate)
    if jit:
        drop = jax.jit(drop)
    key = jax.random.key(0)
    return jax_np(drop(jax.numpy.ones(x.shape, x.dtype), key)) != 0, jax_np(drop(x, key))


def test_flax_eager_flushes_kept_subnormals(jax: Any, linen: Any) -> None:
    """jax-common.yaml subnormal, to: "XLA's CPU runtime may flush them to zero (rescale such inputs into the normal
    range if it does)": eager float32 and bfloat16 subnormals come out 0 where kept; rescaled ones survive."""
    jnp = jax.numpy
    for dtype in (jnp.float32, jnp.bfloat16):
        x = np.full(4096, 1e-40).astype(dtype)  # made by numpy: no XLA computation flushes it on the way in
        assert (x.astype(np.float32) != 0).all()
        kept, y = same_key_outputs(jax, jnp.asarray(x), P)
        assert kept.any() and not y.any()
    scaled = np.full(4096, np.float32(1e-40)) * np.float32(2.0**64)
    kept, y = same_key_outputs(jax, jnp.asarray(scaled), P)
    assert np.array_equal(y[kept], scaled[kept] / np.float32(0.5)) and not y[~kept].any()


def test_flax_float16_subnormals_survive_and_jit_bf16_small_p(jax: Any, linen: Any) -> None:
    """jax-common.yaml subnormal, reason: "float16 computes through float32, where its subnormals are normal, so they
    survive; so does jitted bfloat16 at p = 2^-10"."""
    jnp = jax.numpy
    half = np.full(4096, 1e-6, np.float16)  # float16 subnormal (smallest normal 6.1e-5)
    kept, y = same_key_outputs(jax, jnp.asarray(half), P)
    assert np.array_equal(y[kept], (half[kept] / np.float16(0.5)).astype(np.float32))
    kept, y = same_key_outputs(jax, jnp.asarray(np.full(4096, 1e-40).astype(jnp.bfloat16)), 2**-10, jit=True)
    assert (y[kept] != 0).all()


@pytest.mark.parametrize("jit", [False, True], ids=["eager", "jit"])
def test_flax_bfloat16_keeps_share_at_p_0999(jax: Any, linen: Any, jit: bool) -> None:
    """torch.yaml compiled bfloat16 p = 0.999, from: "the target keeps a share 1 - p where compiled PyTorch zeroed"."""
    _, y = same_key_outputs(jax, jax.numpy.ones((BIG,), jax.numpy.bfloat16), 0.999, jit=jit)
    assert_share_near(int((y != 0).sum()), BIG, 0.001)


@FLAX_KINDS
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "neg_inf"])
def test_flax_dropped_nonfinite_is_zero(jax: Any, kind: str, value: float) -> None:
    """torch.yaml dropout-non-finite, channel-dropout-non-finite, from: "the target gives the dropped value (zero), so
    a NaN PyTorch propagated may not appear on the target" (element-wise, and channels via broadcast_dims)."""
    y = jax_np(flax_dropout(kind, P)(jax.numpy.full((4096,), value)))
    dropped = y == 0
    assert dropped.any() and (~dropped).any()
    assert np.isnan(y[~dropped]).all() if np.isnan(value) else (y[~dropped] == value).all()
    x = np.ones((16, 2, 2, 16), np.float32)
    x[:, 0, 0, :] = value
    yc = jax_np(flax_dropout(kind, P, (1, 2))(jax.numpy.asarray(x)))
    dropped = yc[:, 1, 1, :] == 0
    assert dropped.any() and (~dropped).any() and not yc[:, 0, 0, :][dropped].any()
