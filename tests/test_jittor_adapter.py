"""The Jittor adapter (adapters/jittor_adapter.py) on the real framework, and the behaviours its
expectations file records. Skips where Jittor is not installed.

The adapter module is imported first, not jittor itself: it sets Jittor's environment defaults
(`nvcc_path=""` without a CUDA driver, `use_mkl=0`) before the import, without which `import jittor`
fails on a machine that has nvcc but no GPU.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

jittor_adapter = pytest.importorskip("adapters.jittor_adapter")
import jittor as jt  # noqa: E402  (after the adapter's environment defaults)

from conformance.adapter_kit import AdapterSession  # noqa: E402
from conformance.api import Call, NotOffered  # noqa: E402
from conformance.arrays import cast  # noqa: E402

MINSTD_M, MINSTD_A = 2**31 - 1, 16807  # libstdc++'s std::default_random_engine (minstd_rand0)


@pytest.fixture(scope="module")
def adapter():
    return jittor_adapter.make_adapter()


def _session(adapter, seed: int = 7):
    return adapter.open(adapter.devices()[0], "eager", seed)


def test_adapter_describes_itself(adapter) -> None:
    assert adapter.name == "jittor" and adapter.version() == jt.__version__
    assert adapter.layout == "channels_first"
    assert adapter.ops() == ("dropout", "dropout2d")  # jittor.nn has no Dropout1d/3d, no AlphaDropout
    assert adapter.modes() == ("eager",)
    assert adapter.seeding_paths == ("global",)
    devices = adapter.devices()
    assert devices[0].kind == "cpu"
    assert [d.kind for d in devices[1:]] == (["cuda"] if jt.has_cuda else [])
    assert isinstance(_session(adapter), AdapterSession)


def test_environment_defaults_are_only_defaults() -> None:
    assert os.environ["use_mkl"] in ("0", "1")  # set before the import unless the user chose
    if not jt.has_cuda:
        assert jt.flags.use_cuda == 0


@pytest.mark.parametrize("form", ["module", "functional"])
@pytest.mark.parametrize("op, shape", [("dropout", (64, 64)), ("dropout2d", (64, 64, 2, 2))])
def test_training_drops_and_scales(adapter, op: str, shape, form: str) -> None:
    y = _session(adapter).call(Call(op=op, x=np.ones(shape, np.float32), p=0.5, form=form)).y
    assert set(np.unique(y).tolist()) == {0.0, 2.0}
    assert 0.4 < float((y == 0).mean()) < 0.6
    if op == "dropout2d":  # one decision per (N, C)
        assert (y == y[:, :, :1, :1]).all()


@pytest.mark.parametrize("form", ["module", "functional"])
@pytest.mark.parametrize("op, shape", [("dropout", (4, 8)), ("dropout2d", (4, 8, 3, 3))])
def test_eval_is_identity(adapter, op: str, shape, form: str) -> None:
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    out = _session(adapter).call(Call(op=op, x=x, p=0.25, training=False, form=form))
    np.testing.assert_array_equal(out.y, x)


def test_jittor_modules_and_functions_default_to_evaluation() -> None:
    """Why the adapter always sets the mode: Dropout(p) and dropout(x, p) default to is_train=False."""
    x = jt.ones((16, 16))
    assert jt.nn.Dropout(0.5).is_train is False
    np.testing.assert_array_equal(jt.nn.Dropout(0.5)(x).numpy(), 1.0)
    np.testing.assert_array_equal(jt.nn.dropout(x, 0.5).numpy(), 1.0)
    assert jt.nn.Dropout(0.5).train().is_train is True


@pytest.mark.skipif(jt.has_cuda, reason="the CPU generator; a CUDA session draws from curand")
def test_seeds_are_offsets_in_one_lcg_cycle(adapter) -> None:
    """The expectation on dropout2d-seed-collisions: seed a * 16807^k mod (2^31 - 1) replays seed a's
    stream k draws later (std::default_random_engine is minstd_rand0 in libstdc++)."""
    a, k, n = 139710715, 10, 300
    b = a * pow(MINSTD_A, k, MINSTD_M) % MINSTD_M
    call = Call(op="dropout", x=np.ones((1, n), np.float32), p=0.5)
    stream_a = _session(adapter, a).call(call).y[0] == 0
    stream_b = _session(adapter, b).call(call).y[0] == 0
    np.testing.assert_array_equal(stream_b[:n - k], stream_a[k:])


@pytest.mark.parametrize("dtype", ["float64", "int64"])
def test_64_bit_input_stays_64_bit(adapter, dtype: str) -> None:
    """jt.array alone would turn it into float32/int32 (auto_convert_64_to_32): the adapter keeps the dtype."""
    session = _session(adapter)
    x = np.arange(6, dtype=dtype).reshape(2, 3)
    assert session.dtype_of(session.tensor(x)) == dtype
    out = session.call(Call(op="dropout", x=np.ones((4, 4), np.float64), p=0.5))
    assert out.dtype == "float64" and out.y.dtype == np.float64


def test_bfloat16_round_trip(adapter) -> None:
    x = cast(np.ones((8, 8), np.float32), "bfloat16")
    out = _session(adapter).call(Call(op="dropout", x=x, p=0.5))
    assert out.dtype == "bfloat16" and set(np.unique(out.y.astype(np.float32)).tolist()) <= {0.0, 2.0}


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_dropout2d_returns_half_input_as_float32(adapter, dtype: str) -> None:
    """The channel-dropout-dtype divergence: Dropout casts back to the input dtype, Dropout2d does not."""
    x = cast(np.ones((4, 8, 2, 2), np.float32), dtype)
    session = _session(adapter)
    assert session.call(Call(op="dropout", x=x[:, :, 0, 0], p=0.5)).dtype == dtype
    assert session.call(Call(op="dropout2d", x=x, p=0.5)).dtype == "float32"


def test_float64_scale_is_a_float32_scalar(adapter) -> None:
    """The float64 scaling divergence: kept values are x / float32(1 - p), not x / (1 - p)."""
    y = _session(adapter).call(Call(op="dropout", x=np.full((64, 64), 3.0), p=0.1)).y
    kept = np.unique(y[y != 0])
    assert kept.tolist() == [3.0 / float(np.float32(0.9))] and kept[0] != 3.0 / 0.9


@pytest.mark.parametrize("form", ["module", "functional"])
@pytest.mark.parametrize("op", ["dropout", "dropout2d"])
@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_bad_p_raises_assertion_error(adapter, op: str, form: str, p: float) -> None:
    x = np.ones((2, 3, 2, 2), np.float32)
    with pytest.raises(AssertionError, match="between 0 and 1"):
        _session(adapter).call(Call(op=op, x=x, p=p, form=form))


def test_inplace_is_not_offered(adapter) -> None:
    with pytest.raises(NotOffered, match="in-place"):
        _session(adapter).call(Call(op="dropout", x=np.ones((4, 4), np.float32), p=0.5, inplace=True))


@pytest.mark.parametrize("op, shape", [("dropout", (32, 32)), ("dropout2d", (8, 16, 2, 2))])
@pytest.mark.parametrize("p", [0.0, 0.25, 1.0])
def test_gradient_is_the_mask_over_keep(adapter, op: str, shape, p: float) -> None:
    """x = 1: d(sum y)/dx = mask / (1 - p) = y, and 0 everywhere at p = 1 (Dropout2d's jt.zeros has no
    path back to x: jt.grad gives zeros, with a warning on stderr)."""
    out = _session(adapter).call(Call(op=op, x=np.ones(shape, np.float32), p=p, grad=True))
    np.testing.assert_array_equal(out.grad, out.y)


@pytest.mark.skipif(jittor_adapter._MXCSR is None, reason="the MXCSR is x86's")
def test_calls_run_under_jittors_fp_state_and_the_engine_under_its_own(adapter) -> None:
    """Jittor's -Ofast kernels may set flush-to-zero/denormals-are-zero when loaded; the adapter hands
    that state back to Jittor's next call and restores the engine's own after every call."""
    mxcsr = jittor_adapter._MXCSR
    engine = mxcsr.get_mxcsr()
    x = np.full((8, 8), np.float32(float(np.finfo(np.float32).smallest_normal) / 8))
    _session(adapter).call(Call(op="dropout", x=x, p=0.5))
    assert mxcsr.get_mxcsr() == engine
    assert ((x * np.float32(1)).view(np.uint32) == x.view(np.uint32)).all()  # NumPy here keeps subnormals
    saved = jittor_adapter._jittor_mxcsr
    try:
        jittor_adapter._jittor_mxcsr = engine | 0x8040  # FTZ | DAZ, as crtfastmath.o leaves it
        with jittor_adapter._jittor_fp_state():
            assert mxcsr.get_mxcsr() & 0x8040 == 0x8040
            assert ((x * np.float32(1)).view(np.uint32) == 0).all()
        assert mxcsr.get_mxcsr() == engine
    finally:
        jittor_adapter._jittor_mxcsr = saved
