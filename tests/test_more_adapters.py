"""Adapters for TensorFlow, Keras 3, PaddlePaddle, tinygrad, ONNX Runtime and Equinox, the family specs
and the alpha-dropout checks.

Each framework's tests skip where it is not installed (they never import together: every
framework has its own virtualenv, see tox.ini; .ci/run runs this file in each). Keras reads its backend once per process, so
only the keras-* name whose backend matches KERAS_BACKEND (or the first importable one) runs.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.adapter_kit import AdapterSession, SeedStream, call_seed, with_warnings
from conformance.api import MODES, OPS, SEEDING_PATHS, Adapter, Call, NotOffered
from conformance.arrays import LAYOUTS, channel_noise_shape
from conformance.checks import CHECKS, CheckContext
from conformance.checks.alpha import ALPHA_PRIME, alpha_constants, dropped_mask
from conformance.function_adapter import function_adapter
from conformance.spec import SPECS_DIR, load_all

NEEDS = {
    "tensorflow": ["tensorflow"], "keras-jax": ["keras", "jax"], "keras-torch": ["keras", "torch"],
    "paddle": ["paddle"], "paddle-nhwc": ["paddle"], "paddle-downscale": ["paddle"],
    "tinygrad": ["tinygrad"], "onnxruntime": ["onnxruntime", "onnx"], "equinox": ["equinox"],
    "keras-openvino": ["keras", "openvino"],
    # a bare `import jittor` raises OSError (not ImportError) where nvcc exists without a GPU; the adapter fixes that
    "jittor": ["adapters.jittor_adapter"],
}
FAMILY_DIRS = ("dropout", "channel_dropout", "alpha_dropout")
KERAS_FAMILY = ("tensorflow", "keras-jax", "keras-torch")


def _keras_backend_clash(name: str) -> str | None:
    """Why keras-<backend> cannot load in this process, or None."""
    if not name.startswith("keras-"):
        return None
    wanted = name.split("-", 1)[1]
    if "keras" in sys.modules:
        loaded = sys.modules["keras"].backend.backend()
        return None if loaded == wanted else f"keras already loaded with backend {loaded}"
    chosen = os.environ.get("KERAS_BACKEND") or next(
        (b for b in ("jax", "torch") if importlib.util.find_spec(b)), None)
    return None if chosen == wanted else f"this process runs keras-{chosen}"


def _load(name: str) -> Adapter:
    """The adapter called `name`, or a skip where it cannot load in this process."""
    for module in NEEDS[name]:
        pytest.importorskip(module)
    clash = _keras_backend_clash(name)
    if clash:
        pytest.skip(clash)
    from conformance.targets import load_adapter
    return load_adapter(name)


@pytest.fixture(params=sorted(NEEDS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return _load(request.param)


@pytest.fixture(params=KERAS_FAMILY)
def keras_family(request: pytest.FixtureRequest) -> Adapter:
    """The adapters built on adapters.keras_adapter: Keras 3 on each backend, tf.keras in tensorflow."""
    return _load(request.param)


def _session(adapter: Adapter, seed: int = 7):
    return adapter.open(adapter.devices()[0], "eager", seed)


# ---------------------------------------------------------------- every new adapter

def test_adapter_describes_itself(adapter: Adapter) -> None:
    assert adapter.version()
    assert adapter.layout in LAYOUTS
    assert adapter.devices() and all(d.kind in ("cpu", "cuda", "npu") for d in adapter.devices())
    assert adapter.ops() and set(adapter.ops()) <= set(OPS)
    assert "dropout" in adapter.ops()  # every one of these frameworks has element-wise dropout


def test_sessions_use_the_adapter_kit_call(adapter: Adapter) -> None:
    session = _session(adapter)
    assert isinstance(session, AdapterSession) and type(session).call is AdapterSession.call


def test_element_dropout_values(adapter: Adapter) -> None:
    x = np.ones((64, 64), np.float32)
    y = _session(adapter).call(Call(op="dropout", x=x, p=0.5, seeding=adapter.seeding_paths[0])).y
    kept = 1.0 if adapter.name == "paddle-downscale" else 2.0  # downscale_in_infer: no train scaling
    assert set(np.unique(y).tolist()) == {0.0, kept}
    assert 0.4 < float((y == 0).mean()) < 0.6


def test_eval_mode(adapter: Adapter) -> None:
    x = np.random.default_rng(0).standard_normal((4, 8, 3, 3)).astype(np.float32)
    y = _session(adapter).call(Call(op="dropout", x=x, p=0.25, training=False, seeding=adapter.seeding_paths[0])).y
    expected = x * np.float32(0.75) if adapter.name == "paddle-downscale" else x
    np.testing.assert_array_equal(y, expected)


def test_seed_reproduces_and_calls_differ(adapter: Adapter) -> None:
    x = np.ones((32, 32), np.float32)
    call = Call(op="dropout", x=x, p=0.5, seeding=adapter.seeding_paths[0])
    first = _session(adapter, 11)  # one session at a time: opening one may reset a global seed
    a1, a2 = first.call(call).y, first.call(call).y
    second = _session(adapter, 11)
    b1, b2 = second.call(call).y, second.call(call).y
    np.testing.assert_array_equal(a1, b1)
    np.testing.assert_array_equal(a2, b2)
    assert not np.array_equal(a1, a2)
    assert not np.array_equal(a1, _session(adapter, 12).call(call).y)  # another seed, another stream


def test_missing_ops_are_skipped_by_the_engine(adapter: Adapter) -> None:
    """An op missing from ops() is recorded as not offered; the adapter is never asked for it."""
    from conformance.runner import expand, run_case
    from conformance.targets import targets_for
    target = targets_for(adapter, adapter.name, "cpu", "eager")[0]
    specs = load_all(SPECS_DIR)[0]
    for op in set(OPS) - set(adapter.ops()):
        case = next(c for s in specs if op in s.ops for c in expand(s, target) if c.op == op)
        record = run_case(case, "5a1ce010")
        assert record.status == "skipped", record.message  # Status is a str enum
        assert record.message == f"not offered: {adapter.name} offers no {op}"


def test_channel_dropout_through_the_engine(adapter: Adapter) -> None:
    """The engine's layout mapping hands each adapter its native layout; the mask is per channel."""
    if "dropout2d" not in adapter.ops():
        pytest.skip(f"{adapter.name} offers no dropout2d")
    params = {"shape": [8, 16, 4, 4], "p": 0.5, "claim_axes": [0, 1]}
    ctx = CheckContext(adapter, adapter.devices()[0], "eager", "dropout2d", params, seed=3)
    verdict = CHECKS["mask-axes"].fn(ctx)
    assert verdict.conforms, verdict.message


def test_alpha_dropout_constants(adapter: Adapter) -> None:
    if "alpha_dropout" not in adapter.ops():
        pytest.skip(f"{adapter.name} offers no alpha_dropout")
    ctx = CheckContext(adapter, adapter.devices()[0], "eager", "alpha_dropout",
                       {"shape": [16, 64, 4], "p": 0.5}, seed=5)
    verdict = CHECKS["alpha-values"].fn(ctx)
    assert verdict.conforms, verdict.message


# ---------------------------------------------------------------- Keras, TensorFlow: modes, seeding paths

def _outputs(adapter: Adapter, mode: str, seed: int, call: Call, calls: int = 2) -> list:
    session = adapter.open(adapter.devices()[0], mode, seed)
    return [session.call(call) for _ in range(calls)]


def _need_mode(adapter: Adapter, mode: str) -> None:
    if mode not in adapter.modes():
        pytest.skip(f"{adapter.name} has no {mode} mode here")


def test_keras_family_offers_compiled_mode_and_both_seeding_paths(keras_family: Adapter) -> None:
    assert keras_family.seeding_paths == ("explicit", "global")  # explicit first: the results so far
    assert keras_family.modes()[0] == "eager"
    if keras_family.name != "keras-torch":  # torch.compile needs a C++ compiler on CPU; the others do not
        assert keras_family.modes() == ("eager", "compiled")


# dropout2d too: unseeded, Keras on torch draws element-wise masks from torch's generator but channel
# masks from its global SeedGenerator, whose advance must survive compilation.
@pytest.mark.parametrize("op, shape", [("dropout", (32, 32)), ("dropout2d", (16, 2, 2, 32))])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seeding", SEEDING_PATHS)
@pytest.mark.parametrize("form", ["module", "functional"])
def test_keras_family_streams_reproduce_per_seed(keras_family: Adapter, mode: str, seeding: str,
                                                 form: str, op: str, shape: tuple[int, ...]) -> None:
    """Every mode and path: a session seed replays its stream (compiled: first from a cold cache, then a
    warm one: p is this test's own), successive calls draw fresh masks, another seed another stream."""
    _need_mode(keras_family, mode)
    call = Call(op=op, x=np.ones(shape, np.float32), p=0.375, form=form, seeding=seeding)
    try:
        first = [o.y for o in _outputs(keras_family, mode, 21, call)]
    except NotOffered as e:  # Keras documents unseeded random ops as unsupported under JAX tracing
        unsupported = ("keras-jax", "compiled", "functional", "global")
        assert (keras_family.name, mode, form, seeding) == unsupported, e
        pytest.skip(str(e))
    np.testing.assert_array_equal(first, [o.y for o in _outputs(keras_family, mode, 21, call)])
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], _outputs(keras_family, mode, 22, call, 1)[0].y)


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("form", ["module", "functional"])
def test_compiled_draws_what_eager_draws_on_the_explicit_path(keras_family: Adapter, form: str,
                                                              grad: bool) -> None:
    """A compiled call hands over its fresh layer's (or seed's) state, so it draws the eager call's mask;
    its gradient comes from the same forward pass (x = 1: d sum(y)/dx = y)."""
    _need_mode(keras_family, "compiled")
    call = Call(op="dropout", x=np.ones((32, 32), np.float32), p=0.25, form=form, grad=grad)
    eager, compiled = (_outputs(keras_family, mode, 5, call) for mode in MODES)
    for e, c in zip(eager, compiled):
        np.testing.assert_array_equal(e.y == 0, c.y == 0)
        if grad:
            np.testing.assert_allclose(c.grad, c.y)


def test_explicit_layer_seed_is_the_session_stream(keras_family: Adapter) -> None:
    """The usual path, unchanged: the n-th call is Dropout(rate, seed=call_seed(session seed, n))."""
    import keras
    x = np.ones((16, 16), np.float32)
    got = [o.y for o in _outputs(keras_family, "eager", 8, Call(op="dropout", x=x, p=0.5), 2)]
    for n, y in enumerate(got):
        layer = keras.layers.Dropout(0.5, seed=call_seed(8, n))
        np.testing.assert_array_equal(y, keras.ops.convert_to_numpy(layer(x, training=True)))


def test_compiled_callables_are_shared_across_calls_and_sessions(keras_family: Adapter) -> None:
    from adapters.keras_adapter import _COMPILED
    _need_mode(keras_family, "compiled")
    call = Call(op="dropout", x=np.ones((8, 8), np.float32), p=0.3125)
    before = len(_COMPILED)
    for seed in (1, 2):
        _outputs(keras_family, "compiled", seed, call)
    assert len(_COMPILED) == before + 1


@pytest.mark.parametrize("mode", MODES)
def test_compiled_mode_raises_what_eager_raises(keras_family: Adapter, mode: str) -> None:
    """Dropout checks rate when it is built, before anything is traced: both modes raise the same."""
    _need_mode(keras_family, mode)
    with pytest.raises(ValueError, match="rate"):
        _outputs(keras_family, mode, 3, Call(op="dropout", x=np.ones((4, 4), np.float32), p=1.5), 1)


# ---------------------------------------------------------------- tinygrad: a listed device must be usable

@pytest.mark.parametrize("cc", ["/nonexistent/cc", "false"])
def test_tinygrad_is_unavailable_where_cc_cannot_build_its_kernels(cc: str) -> None:
    """A missing compiler, or one that fails (gcc rejects tinygrad's --target=), makes tinygrad unavailable
    with the install command, instead of a listed CPU that fails every case; tinygrad's kernel cache
    must not hide it."""
    pytest.importorskip("tinygrad")
    probe = ("from conformance.targets import Unavailable, load_adapter\n"
             "try:\n    load_adapter('tinygrad')\nexcept Unavailable as e:\n    print('UNAVAILABLE', e)\n")
    proc = subprocess.run([sys.executable, "-c", probe], env={**os.environ, "CC": cc},
                          cwd=Path(__file__).resolve().parent.parent, capture_output=True, text=True, timeout=300)
    assert f"UNAVAILABLE tinygrad is unavailable here (tinygrad's CPU device cannot compile its kernels with CC={cc}" \
        in proc.stdout, proc.stdout + proc.stderr
    assert "apt-get install clang" in proc.stdout


# ---------------------------------------------------------------- shared engine pieces

def test_channel_noise_shape() -> None:
    assert channel_noise_shape((2, 5, 6, 3), "channels_last") == (2, 1, 1, 3)
    assert channel_noise_shape((2, 3, 5, 6), "channels_first") == (2, 3, 1, 1)
    assert channel_noise_shape((2, 3, 5), "channels_first") == (2, 3, 1)
    assert channel_noise_shape((7,), "channels_last") == (7,)


def test_seed_stream_is_reproducible_and_fresh() -> None:
    a, b = SeedStream(42), SeedStream(42)
    seeds = [a.next() for _ in range(5)]
    assert seeds == [b.next() for _ in range(5)]
    assert len(set(seeds)) == 5 and all(0 <= s < 2**31 for s in seeds)


def test_with_warnings_records_messages() -> None:
    import warnings

    def noisy() -> int:
        warnings.warn("careful", UserWarning)
        return 3
    assert with_warnings(noisy) == (3, ["careful"])


def test_alpha_constants_keep_mean_and_variance() -> None:
    """For x ~ N(0, 1): E[y] = 0 and Var[y] = 1 follow from a, b and the dropped value alpha'."""
    for p in (0.1, 0.5, 0.8):
        a, b, dropped = alpha_constants(p)
        mean_masked = p * ALPHA_PRIME  # E of x*keep + alpha'*(1-keep), x standard normal
        second = (1 - p) + p * ALPHA_PRIME ** 2
        assert a * mean_masked + b == pytest.approx(0.0, abs=1e-12)
        assert a * a * (second - mean_masked ** 2) == pytest.approx(1.0, rel=1e-12)
        assert dropped == pytest.approx(a * ALPHA_PRIME + b)
    assert alpha_constants(0.5)[2] == pytest.approx(-0.7791938, abs=1e-6)  # PaddlePaddle's doc example


def _alpha_numpy(constant_shift: float):
    def alpha_dropout(x: np.ndarray, p: float, *, training: bool, seed: int) -> np.ndarray:
        if not training or p == 0:
            return x
        a, b, _ = alpha_constants(p)
        keep = np.random.default_rng(seed).random(x.shape) >= p
        return (a * np.where(keep, x, ALPHA_PRIME) + b + constant_shift).astype(x.dtype)
    return alpha_dropout


@pytest.mark.parametrize("shift, conforms", [(0.0, True), (1e-3, False)])
def test_alpha_values_check_catches_a_wrong_shift(shift: float, conforms: bool) -> None:
    adapter = function_adapter(_alpha_numpy(shift), name="alpha-np", ops=("alpha_dropout",))
    ctx = CheckContext(adapter, adapter.devices()[0], "eager", "alpha_dropout",
                       {"shape": [16, 64, 4], "p": 0.3}, seed=9)
    assert CHECKS["alpha-values"].fn(ctx).conforms is conforms


def test_alpha_mask_axes_and_rate_on_the_numpy_reference() -> None:
    adapter = function_adapter(_alpha_numpy(0.0), name="alpha-np", ops=("alpha_dropout",))
    device = adapter.devices()[0]
    axes = CheckContext(adapter, device, "eager", "alpha_dropout",
                        {"shape": [16, 16, 8], "p": 0.5, "claim_axes": [0, 1]}, seed=2)
    assert not CHECKS["alpha-mask-axes"].fn(axes).conforms  # element-wise, not per channel
    rate = CheckContext(adapter, device, "eager", "alpha_dropout",
                        {"p": 0.25, "min_decisions": 65536, "channels": 64, "spatial": [1]}, seed=4)
    assert CHECKS["alpha-drop-rate"].fn(rate).conforms


def test_dropped_mask_reads_the_most_frequent_value() -> None:
    y = np.array([[-0.7, 1.1, -0.7], [2.3, -0.7, 0.4]], np.float32)
    mask, value = dropped_mask(y)
    assert value == pytest.approx(-0.7) and mask.sum() == 3


def test_family_specs_load() -> None:
    specs, errors = load_all(SPECS_DIR)
    assert not errors, [str(e) for e in errors]
    ids = {s.id for s in specs}
    for family in FAMILY_DIRS:
        assert (SPECS_DIR / family).is_dir()
    assert {"dropout-element-granularity", "channel-dropout-granularity", "channel-dropout-mask-axes",
            "alpha-dropout-values"} <= ids
