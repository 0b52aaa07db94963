"""The MindSpore adapter (adapters/mindspore_adapter.py) and the findings its expectations record.

Skips where MindSpore is not installed (it has its own virtualenv: tox env `mindspore`). Every test runs
the real framework on its CPU: no mocks.
"""
from __future__ import annotations

import numpy as np
import pytest

ms = pytest.importorskip("mindspore")

from conformance.adapter_kit import AdapterSession  # noqa: E402
from conformance.api import MODES, Call, NotOffered  # noqa: E402
from conformance.targets import load_adapter  # noqa: E402


@pytest.fixture(scope="module")
def adapter():
    return load_adapter("mindspore")


def _call(**fields) -> Call:
    """A Call on the adapter's usual seeding path, "global" (Call's own default is "explicit")."""
    return Call(**{"seeding": "global", **fields})


def _calls(adapter, call: Call, *, seed: int = 7, mode: str = "eager", n: int = 2) -> list:
    session = adapter.open(adapter.devices()[0], mode, seed)
    return [session.call(call) for _ in range(n)]


def test_describes_itself(adapter) -> None:
    assert adapter.name == "mindspore" and adapter.version() == ms.__version__
    assert adapter.layout == "channels_first"
    assert adapter.ops() == ("dropout", "dropout1d", "dropout2d", "dropout3d")
    assert adapter.modes() == ("eager", "compiled")
    assert adapter.seeding_paths == ("global", "explicit")
    devices = adapter.devices()
    assert devices[0].kind == "cpu"
    expected = [kind for kind, target in (("cuda", "GPU"), ("npu", "Ascend")) if ms.hal.is_available(target)
                for _ in range(ms.hal.device_count(target))]
    assert [d.kind for d in devices[1:]] == expected  # every GPU / Ascend device MindSpore sees
    session = adapter.open(devices[0], "eager", 1)
    assert isinstance(session, AdapterSession) and type(session).call is AdapterSession.call


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", ["module", "functional"])
@pytest.mark.parametrize("op, shape", [("dropout", (32, 32)), ("dropout1d", (16, 32, 3)),
                                       ("dropout2d", (16, 32, 2, 2)), ("dropout3d", (16, 32, 2, 1, 2))])
def test_values_granularity_and_fresh_masks(adapter, mode: str, form: str, op: str, shape: tuple) -> None:
    """Kept units are x / (1 - p), a channel op drops whole channels, and successive calls draw fresh masks."""
    call = _call(op=op, x=np.ones(shape, np.float32), p=0.5, form=form)
    a, b = _calls(adapter, call, mode=mode)
    assert set(np.unique(a.y).tolist()) == {0.0, 2.0} and a.dtype == "float32"
    if op != "dropout":
        per_channel = a.y.reshape(shape[0], shape[1], -1)
        assert (per_channel.min(axis=2) == per_channel.max(axis=2)).all()
    assert not np.array_equal(a.y, b.y)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("form", ["module", "functional"])
def test_gradient_is_the_forward_mask_times_the_scale(adapter, mode: str, form: str) -> None:
    for op, shape in (("dropout", (16, 16)), ("dropout2d", (8, 16, 2, 2))):
        out = _calls(adapter, _call(op=op, x=np.ones(shape, np.float32), p=0.25, form=form, grad=True),
                     mode=mode, n=1)[0]
        np.testing.assert_array_equal(out.grad, out.y)  # x = 1: d sum(y)/dx = mask / (1 - p) = y


@pytest.mark.parametrize("form", ["module", "functional"])
def test_eval_returns_the_input(adapter, form: str) -> None:
    x = np.random.default_rng(0).standard_normal((4, 8, 3, 3)).astype(np.float32)
    for op in ("dropout", "dropout2d"):
        np.testing.assert_array_equal(_calls(adapter, _call(op=op, x=x, p=0.5, training=False, form=form),
                                             n=1)[0].y, x)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seeding, form", [("global", "module"), ("global", "functional"),
                                           ("explicit", "functional")])
def test_element_wise_streams_reproduce_per_seed(adapter, mode: str, seeding: str, form: str) -> None:
    call = _call(op="dropout", x=np.ones((32, 32), np.float32), p=0.5, form=form, seeding=seeding)
    first = [o.y for o in _calls(adapter, call, seed=21, mode=mode)]
    np.testing.assert_array_equal(first, [o.y for o in _calls(adapter, call, seed=21, mode=mode)])
    assert not np.array_equal(first[0], _calls(adapter, call, seed=22, mode=mode, n=1)[0].y)


def test_explicit_seed_is_only_offered_by_ops_dropout(adapter) -> None:
    for op, form in (("dropout", "module"), ("dropout2d", "functional"), ("dropout1d", "module")):
        shape = (4, 4) if op == "dropout" else (4, 4, 2, 2)[:3 if op == "dropout1d" else 4]
        with pytest.raises(NotOffered, match="only ops.dropout takes a seed"):
            _calls(adapter, _call(op=op, x=np.ones(shape, np.float32), p=0.5, form=form, seeding="explicit"))


def test_channel_dropout_ignores_the_seed(adapter) -> None:
    """Finding: every new Dropout2D kernel draws the same stream (std::default_random_engine, seed 1),
    whatever mindspore.set_seed said: under jit, each session's fresh graph gives the same masks."""
    call = _call(op="dropout2d", x=np.ones((16, 32, 1, 1), np.float32), p=0.5)
    a = _calls(adapter, call, seed=1, mode="compiled", n=1)[0].y
    b = _calls(adapter, call, seed=2, mode="compiled", n=1)[0].y
    np.testing.assert_array_equal(a, b)
    # The first 2 * 16 * 32 outputs of minstd_rand0 from seed 1, read as libstdc++'s bernoulli_distribution
    # reads them (generate_canonical<double>: two 31-bit draws per decision): keep where u < 1 - p.
    state, draws = 1, []
    for _ in range(2 * 16 * 32):
        state = state * 16807 % 2147483647
        draws.append(state - 1)
    r = 2147483646.0
    u = (np.array(draws[0::2], np.float64) + np.array(draws[1::2], np.float64) * r) / (r * r)
    np.testing.assert_array_equal(a.reshape(-1) > 0, u < 0.5)


def test_p_ranges(adapter) -> None:
    """ops.dropout does not check p (the kernel raises RuntimeError, p = 1 included); nn.Dropout documents
    [0, 1); the channel ops take [0, 1] and raise ValueError outside it."""
    x2, x4 = np.ones((4, 4), np.float32), np.ones((4, 4, 2, 2), np.float32)
    for p in (1.0, 1.5, -0.1):
        with pytest.raises(RuntimeError, match="keep_prob"):
            _calls(adapter, _call(op="dropout", x=x2, p=p, form="functional"), n=1)
        with pytest.raises(ValueError, match="range"):
            _calls(adapter, _call(op="dropout", x=x2, p=p, form="module"), n=1)
    for form in ("module", "functional"):
        assert not _calls(adapter, _call(op="dropout2d", x=x4, p=1.0, form=form), n=1)[0].y.any()
        with pytest.raises(ValueError):
            _calls(adapter, _call(op="dropout2d", x=x4, p=1.5, form=form), n=1)


def test_channel_ops_take_only_their_batched_rank(adapter) -> None:
    with pytest.raises(ValueError, match="rank of input"):
        _calls(adapter, _call(op="dropout2d", x=np.ones((4, 2, 2), np.float32), p=0.5), n=1)
    with pytest.raises(ValueError, match="rank of input"):
        _calls(adapter, _call(op="dropout3d", x=np.ones((4, 2, 2, 2), np.float32), p=0.5), n=1)
    y = _calls(adapter, _call(op="dropout1d", x=np.ones((64, 3), np.float32), p=0.5), n=1)[0].y  # (C, L)
    assert (y.min(axis=1) == y.max(axis=1)).all() and 0 < (y[:, 0] == 0).sum() < 64


def test_float64_channel_dropout_runs_in_float32(adapter) -> None:
    """Finding: the channel kernel casts a float64 input to float32 before scaling: a subnormal becomes 0."""
    tiny = np.finfo(np.float64).smallest_normal / 8
    y = _calls(adapter, _call(op="dropout2d", x=np.full((8, 16, 1, 1), tiny), p=0.5), n=1)[0]
    assert y.dtype == "float64" and not y.y.any()


def test_dropped_non_finite_element_becomes_nan(adapter) -> None:
    y = _calls(adapter, _call(op="dropout", x=np.full((64, 64), np.inf, np.float32), p=0.5), n=1)[0].y
    assert np.isnan(y).any() and not (y == 0).any()


def test_bfloat16_and_inplace_are_not_offered_on_cpu(adapter) -> None:
    import ml_dtypes
    x = np.ones((4, 4), ml_dtypes.bfloat16)
    with pytest.raises(NotOffered, match="bfloat16: MindSpore registers no Dropout kernel"):
        _calls(adapter, _call(op="dropout", x=x, p=0.5), n=1)
    with pytest.raises(NotOffered, match="inplace"):
        _calls(adapter, _call(op="dropout", x=np.ones((4, 4), np.float32), p=0.5, inplace=True), n=1)
    assert _calls(adapter, _call(op="dropout2d", x=np.ones((4, 4, 2, 2), np.float16), p=0.5), n=1)[0].dtype \
        == "float16"


def test_mint_dropout_has_no_cpu_kernel() -> None:
    """Why there is no mindspore-mint target: mint's dropout kernels (DropoutExt) are Ascend-only."""
    from mindspore import Tensor, mint
    if ms.get_context("device_target") != "CPU":
        pytest.skip("checks the CPU build")
    layer = mint.nn.Dropout(0.5)
    layer.set_train(True)
    with pytest.raises(RuntimeError, match="DropoutExt unregistered"):
        layer(Tensor(np.ones((4, 4), np.float32))).asnumpy()  # PyNative raises when the value is read
