"""Adapter plumbing against the real frameworks: devices, layouts, dtypes, compiled randomness.

Each test skips where its framework is not installed (pytest.importorskip), so the file runs
anywhere; nothing here mocks a framework.
"""
from __future__ import annotations

import importlib
import os

import ml_dtypes
import numpy as np
import pytest

from conformance.adapter_kit import AdapterSession
from conformance.api import Adapter, Call, NotOffered
from conformance.checks import CheckContext
from conformance.checks.masks import channel_states

FRAMEWORKS = {"torch": "torch", "mlx": "mlx.core", "flax-linen": "flax", "flax-nnx": "flax"}


def adapter_for(name: str) -> Adapter:
    pytest.importorskip(FRAMEWORKS[name])
    from adapters import FRAMEWORKS as REGISTRY
    return importlib.import_module(REGISTRY[name][0]).make_adapter()


@pytest.fixture(params=sorted(FRAMEWORKS))
def adapter(request) -> Adapter:
    return adapter_for(request.param)


def logical_run(adapter: Adapter, mode: str, x: np.ndarray, p: float, seed: int = 7, calls: int = 1,
                **kwargs):
    """`calls` successive calls through the engine's layout mapping, in one session."""
    cpu = adapter.devices()[0]
    ctx = CheckContext(adapter, cpu, mode, "dropout2d", {}, seed)
    session = ctx.session()
    return [session.run(x, p, **kwargs) for _ in range(calls)]


def ones(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    return np.ones(shape, dtype=dtype)


@pytest.mark.parametrize("name", os.environ.get("CONFORMANCE_REQUIRE_ADAPTERS", "").split())
def test_required_adapters_load_here(name):
    """Where an env installs a framework (tox sets this variable), its adapters must load and list a
    device here: a framework that fails to import would otherwise only skip its tests."""
    from conformance.targets import load_adapter
    assert load_adapter(name).devices()


def test_sessions_use_the_adapter_kit_call(adapter):
    session = adapter.open(adapter.devices()[0], "eager", 0)
    assert isinstance(session, AdapterSession) and type(session).call is AdapterSession.call


def test_devices_start_with_a_named_cpu(adapter):
    devices = adapter.devices()
    assert devices[0].kind == "cpu" and devices[0].index == 0
    assert devices[0].name and devices[0].name != "cpu"
    assert len({d.label for d in devices}) == len(devices)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_whole_channels_dropped_in_logical_layout(adapter, mode):
    (obs,) = logical_run(adapter, mode, ones((4, 32, 3, 5)), 0.5)
    assert obs.error is None, obs.error_message
    assert obs.y.shape == (4, 32, 3, 5)
    dropped, mixed = channel_states(obs.y)
    assert not mixed.any()
    assert 0 < dropped.sum() < dropped.size


def test_channels_last_adapters_receive_channels_last(adapter):
    """Fed natively (no layout mapping), a channels-last adapter drops along the last axis."""
    (obs,) = logical_run(adapter, "eager", ones((8, 8, 8, 8)), 0.5, native=True)
    varies = [a for a in range(4) if np.any(np.diff(obs.y != 0, axis=a))]
    channel = 1 if adapter.layout == "channels_first" else 3
    assert varies == [0, channel]


def test_bfloat16_round_trip(adapter):
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3)).astype(ml_dtypes.bfloat16)
    (obs,) = logical_run(adapter, "eager", x, 0.5, training=False)
    assert obs.dtype == "bfloat16"
    assert obs.y.dtype == ml_dtypes.bfloat16
    assert np.array_equal(obs.y.astype(np.float32), x.astype(np.float32))


def test_bfloat16_training_keeps_dtype_and_scale(adapter):
    x = ones((4, 16, 2, 2), ml_dtypes.bfloat16)
    (obs,) = logical_run(adapter, "eager", x, 0.5)
    values = set(np.unique(obs.y.astype(np.float32)).tolist())
    assert obs.dtype == "bfloat16" and values == {0.0, 2.0}


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_successive_calls_draw_fresh_masks(adapter, mode):
    first, second, third = logical_run(adapter, mode, ones((8, 64, 2, 2)), 0.5, calls=3)
    masks = [channel_states(o.y)[0] for o in (first, second, third)]
    assert not np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[1], masks[2])


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_same_seed_reproduces_the_stream(adapter, mode):
    x = ones((8, 64, 2, 2))
    a = logical_run(adapter, mode, x, 0.5, seed=11, calls=2)
    b = logical_run(adapter, mode, x, 0.5, seed=11, calls=2)
    c = logical_run(adapter, mode, x, 0.5, seed=12, calls=1)
    assert all(np.array_equal(u.y, v.y) for u, v in zip(a, b))
    assert not np.array_equal(a[0].y, c[0].y)


@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_gradient_uses_the_forward_mask(adapter, mode):
    (obs,) = logical_run(adapter, mode, ones((8, 32, 2, 2)), 0.25, grad=True)
    assert obs.error is None, obs.error_message
    assert np.array_equal(obs.grad != 0, obs.y != 0)
    assert set(np.unique(obs.grad).tolist()) == {0.0, np.float32(1 / 0.75)}


def test_inplace_is_not_offered_by_immutable_frameworks():
    for name in ("mlx", "flax-linen", "flax-nnx"):
        try:
            adapter = adapter_for(name)
        except pytest.skip.Exception:
            continue
        session = adapter.open(adapter.devices()[0], "eager", 0)
        with pytest.raises(NotOffered):
            session.call(Call(op="dropout2d", x=ones((2, 2, 2, 2)), p=0.5, inplace=True))
        assert "alpha_dropout" not in adapter.ops()  # the engine skips it without opening a session


def test_mlx_has_no_functional_form():
    adapter = adapter_for("mlx")
    for mode in ("eager", "compiled"):
        session = adapter.open(adapter.devices()[0], mode, 0)
        with pytest.raises(NotOffered):
            session.call(Call(op="dropout2d", x=ones((2, 2, 2, 2)), p=0.5, form="functional"))


def test_mlx_compile_without_random_state_freezes_the_mask():
    """Why the adapter passes mx.random.state through mx.compile: otherwise the key is a constant."""
    pytest.importorskip("mlx.core")
    import mlx.core as mx
    import mlx.nn as nn
    mx.random.seed(0)
    frozen = mx.compile(nn.Dropout2d(0.5))
    x = mx.ones((4, 1, 1, 64))
    assert np.array_equal(np.array(frozen(x)), np.array(frozen(x)))


@pytest.mark.parametrize("ndim,dims", [(1, ()), (2, ()), (3, (1,)), (4, (1, 2)), (5, (1, 2, 3))])
def test_flax_broadcast_dims_are_the_spatial_axes(ndim, dims):
    pytest.importorskip("flax")
    from adapters.jax_support import channel_broadcast_dims
    assert channel_broadcast_dims("dropout2d", ndim) == dims
    assert channel_broadcast_dims("dropout", ndim) == ()


@pytest.mark.parametrize("name", ["flax-linen", "flax-nnx"])
@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_flax_modules_drop_channels_and_evaluate_to_identity(name, mode):
    adapter = adapter_for(name)
    cpu = adapter.devices()[0]
    x = np.random.default_rng(1).uniform(0.5, 2, (4, 3, 3, 16)).astype(np.float32)  # native NHWC
    session = adapter.open(cpu, mode, 3)
    train = session.call(Call(op="dropout2d", x=x, p=0.5))
    per_channel = (train.y == 0).reshape(4, 9, 16)
    assert np.all(per_channel.all(axis=1) | ~per_channel.any(axis=1))
    assert per_channel.any() and not per_channel.all()
    evaluated = session.call(Call(op="dropout2d", x=x, p=0.5, training=False))
    assert np.array_equal(evaluated.y, x)


@pytest.mark.parametrize("name", ["flax-linen", "flax-nnx"])
def test_flax_has_no_functional_dropout(name):
    """linen and nnx are separate implementations, each a module: neither stands in for a functional form."""
    adapter = adapter_for(name)
    session = adapter.open(adapter.devices()[0], "eager", 0)
    with pytest.raises(NotOffered, match="no functional dropout"):
        session.call(Call(op="dropout2d", x=ones((2, 2, 2, 2)), p=0.5, form="functional"))


def test_torch_compiled_graphs_warn_when_traced_not_on_every_call():
    """Why a compiled target's `warned` depends on what ran before in the process: Python
    warnings fire while Dynamo traces, and a cached graph replays silently."""
    adapter = adapter_for("torch")
    if "compiled" not in adapter.modes():
        pytest.skip("no C++ compiler for inductor")
    x = ones((6, 5, 4))  # 3D input: dropout2d warns that it reads it as (N, C, L)
    eager = adapter.open(adapter.devices()[0], "eager", 0)
    assert all(eager.call(Call(op="dropout2d", x=x, p=0.4375)).warnings for _ in range(2))
    compiled = adapter.open(adapter.devices()[0], "compiled", 0)
    first, second = (compiled.call(Call(op="dropout2d", x=x, p=0.4375)) for _ in range(2))
    assert first.warnings and not second.warnings


@pytest.mark.parametrize("spec_id", ["alpha-dropout-values", "feature-alpha-dropout-values"])
def test_alpha_values_no_longer_fail_a_correct_torch_by_chance(spec_id: str) -> None:
    """The first user's failure (salt 6f9a78cf): a least-squares fit of a and b charged its own rounding
    to torch at p = 0.8 in float64 (8.3 eps). Element-wise comparison with the formula passes."""
    from conformance.record import Status
    from conformance.runner import expand, run_case
    from conformance.spec import load_all
    from conformance.targets import targets_for
    target = targets_for(adapter_for("torch"), "torch", "cpu", "eager")[0]
    spec = next(s for s in load_all()[0] if s.id == spec_id)
    case = next(c for c in expand(spec, target) if c.params["p"] == 0.8 and c.params["dtype"] == "float64")
    record = run_case(case, "6f9a78cf")
    assert record.status is Status.PASS, record.message
    assert record.observed["max_error_eps"] < 3  # torch's worst over 150 salts was 1.4 eps
