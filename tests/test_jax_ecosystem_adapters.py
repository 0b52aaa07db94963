"""Equinox and Haiku: the JAX implementations beside Flax, each an adapter on adapters.jax_support.

Both skip where their library is not installed. Equinox offers `eqx.nn.Dropout` (module form only, a key
per call); Haiku offers `hk.dropout(rng, rate, x)` (functional form only, no training flag). What the
tests pin besides the adapter contract is what their expectation files rest on: Equinox validates no p
and its gradient at p = 1 is NaN; Haiku rejects rate = 1 and returns the input itself at rate 0; Haiku's
`keep * x` meets XLA's rewrite of a multiplication by a converted boolean into a select.
"""
from __future__ import annotations

import numpy as np
import pytest

from conformance.adapter_kit import AdapterSession
from conformance.api import MODES, Adapter, Call, NotOffered

NAMES = {"equinox": "equinox", "haiku": "haiku"}  # framework -> module to import
FORM = {"equinox": "module", "haiku": "functional"}  # the one form each offers


def _load(name: str) -> Adapter:
    pytest.importorskip(NAMES[name])
    from conformance.targets import load_adapter
    return load_adapter(name)


@pytest.fixture(params=sorted(NAMES))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return _load(request.param)


def _session(adapter: Adapter, mode: str = "eager", seed: int = 7):
    return adapter.open(adapter.devices()[0], mode, seed)


def _call(adapter: Adapter, x: np.ndarray, p: float, **kw) -> Call:
    return Call(op="dropout", x=x, p=p, form=FORM[adapter.name], **kw)


def test_adapter_describes_itself(adapter: Adapter) -> None:
    import jax
    assert adapter.version().endswith(f"+jax{jax.__version__}")
    assert adapter.layout == "channels_last"
    assert adapter.ops() == ("dropout",)  # neither library has channel or alpha dropout
    assert adapter.modes() == MODES
    assert [(d.kind, d.index) for d in adapter.devices()] == \
        [(d.platform, i) for kind in ("cpu", "gpu", "tpu") for i, d in enumerate(_jax_devices(kind))]
    assert type(_session(adapter)).call is AdapterSession.call


def _jax_devices(kind: str) -> list:
    import jax
    try:
        return jax.devices(kind)
    except RuntimeError:
        return []


@pytest.mark.parametrize("mode", MODES)
def test_element_dropout_values_and_fresh_masks(adapter: Adapter, mode: str) -> None:
    x = np.ones((64, 64), np.float32)
    session = _session(adapter, mode)
    first, second = (session.call(_call(adapter, x, 0.5)) for _ in range(2))
    assert set(np.unique(first.y).tolist()) == {0.0, 2.0}
    assert 0.4 < float((first.y == 0).mean()) < 0.6
    assert not np.array_equal(first.y, second.y)  # a fresh key per call
    assert first.dtype == "float32" and not first.same_object and not first.input_modified


@pytest.mark.parametrize("mode", MODES)
def test_seed_reproduces_and_compiled_draws_the_eager_mask(adapter: Adapter, mode: str) -> None:
    x = np.ones((32, 32), np.float32)
    a = [_session(adapter, mode, 11).call(_call(adapter, x, 0.5)).y]
    b = [_session(adapter, mode, 11).call(_call(adapter, x, 0.5)).y]
    c = [_session(adapter, mode, 12).call(_call(adapter, x, 0.5)).y]
    eager = _session(adapter, "eager", 11).call(_call(adapter, x, 0.5)).y
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], eager)  # the same key gives the same mask, jitted or not
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("mode", MODES)
def test_gradient_is_the_forward_mask_scaled(adapter: Adapter, mode: str) -> None:
    out = _session(adapter, mode).call(_call(adapter, np.ones((32, 64), np.float32), 0.25, grad=True))
    np.testing.assert_array_equal(out.grad, out.y)  # x = 1: d sum(y)/dx = mask / (1 - p) = y
    assert set(np.unique(out.grad).tolist()) == {0.0, np.float32(1 / 0.75)}


def test_bfloat16_and_float16_stay_their_dtype(adapter: Adapter) -> None:
    from conformance.arrays import cast
    for dtype in ("bfloat16", "float16"):
        out = _session(adapter).call(_call(adapter, cast(np.ones((8, 8), np.float32), dtype), 0.5))
        assert out.dtype == dtype and str(out.y.dtype) == dtype


def test_inplace_is_not_offered(adapter: Adapter) -> None:
    with pytest.raises(NotOffered, match="immutable"):
        _session(adapter).call(_call(adapter, np.ones((2, 2), np.float32), 0.5, inplace=True))


def test_missing_ops_are_skipped_by_the_engine(adapter: Adapter) -> None:
    from conformance.runner import expand, run_case
    from conformance.spec import SPECS_DIR, load_all
    from conformance.targets import targets_for
    target = targets_for(adapter, adapter.name, "cpu", "eager")[0]
    specs = load_all(SPECS_DIR)[0]
    case = next(c for s in specs if "dropout2d" in s.ops for c in expand(s, target) if c.op == "dropout2d")
    record = run_case(case, "5a1ce010")
    assert record.status == "skipped" and record.message == f"not offered: {adapter.name} offers no dropout2d"


# ---------------------------------------------------------------- Equinox

@pytest.mark.parametrize("mode", MODES)
def test_equinox_has_no_functional_dropout_and_evaluates_to_identity(mode: str) -> None:
    adapter = _load("equinox")
    session = _session(adapter, mode)
    x = np.random.default_rng(0).standard_normal((4, 3, 3, 8)).astype(np.float32)
    with pytest.raises(NotOffered, match="no functional dropout"):
        session.call(Call(op="dropout", x=x, p=0.5, form="functional"))
    out = session.call(Call(op="dropout", x=x, p=0.25, training=False))
    np.testing.assert_array_equal(out.y, x)


@pytest.mark.parametrize("mode", MODES)
def test_equinox_validates_no_p_and_its_gradient_at_p_one_is_nan(mode: str) -> None:
    """equinox/nn/_dropout.py: q = 1 - p, mask = bernoulli(key, q), where(mask, x / q, 0): no check of p.
    At p = 1 the output is 0, but the gradient of the unselected x / 0 branch is 0 / 0 = NaN."""
    session = _session(_load("equinox"), mode)
    x = np.ones((16, 16), np.float32)
    np.testing.assert_allclose(session.call(Call(op="dropout", x=x, p=-0.1)).y, x / np.float32(1.1), rtol=1e-6)
    assert not session.call(Call(op="dropout", x=x, p=1.1)).y.any()
    edge = session.call(Call(op="dropout", x=x, p=1.0, grad=True))
    assert not edge.y.any() and np.isnan(edge.grad).all()


def test_equinox_p_zero_returns_the_input_itself() -> None:
    out = _session(_load("equinox")).call(Call(op="dropout", x=np.ones((4, 4), np.float32), p=0.0))
    assert out.same_object and np.array_equal(out.y, np.ones((4, 4)))


# ---------------------------------------------------------------- Haiku

@pytest.mark.parametrize("mode", MODES)
def test_haiku_offers_only_the_training_function(mode: str) -> None:
    session = _session(_load("haiku"), mode)
    x = np.ones((4, 4), np.float32)
    with pytest.raises(NotOffered, match="no Dropout module"):
        session.call(Call(op="dropout", x=x, p=0.5, form="module"))
    with pytest.raises(NotOffered, match="no training flag"):
        session.call(Call(op="dropout", x=x, p=0.5, form="functional", training=False))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("p", [-0.1, 1.0, 1.1])
def test_haiku_rejects_rates_outside_zero_to_one_open(mode: str, p: float) -> None:
    """haiku/_src/basic.py dropout_impl: `if rate < 0 or rate >= 1: raise ValueError` (p = 1 included)."""
    session = _session(_load("haiku"), mode)
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)"):
        session.call(Call(op="dropout", x=np.ones((4, 4), np.float32), p=p, form="functional"))


def test_haiku_rate_zero_returns_the_input_itself() -> None:
    out = _session(_load("haiku")).call(Call(op="dropout", x=np.ones((4, 4), np.float32), p=0.0, form="functional"))
    assert out.same_object


def test_haiku_dropout_needs_no_transform() -> None:
    """hk.dropout reads only its key: outside hk.transform it draws what it draws inside one."""
    pytest.importorskip("haiku")
    import haiku as hk
    import jax
    import jax.numpy as jnp
    key, x = jax.random.key(3), jnp.ones((16, 16))
    inside = hk.transform(lambda x: hk.dropout(key, 0.5, x))
    np.testing.assert_array_equal(hk.dropout(key, 0.5, x), inside.apply({}, None, x))


@pytest.mark.parametrize("jit", [False, True])
def test_haiku_multiplication_by_the_mask_is_a_select_on_xla_cpu(jit: bool) -> None:
    """dropout_impl computes keep * x / keep_rate, which would turn a dropped NaN or Inf into NaN; XLA
    rewrites a multiplication by a converted boolean into a select (openxla/xla#2438), so on CPU a dropped
    NaN or Inf is 0 in float32, jitted or not (eager runs jnp.multiply as one jitted computation)."""
    pytest.importorskip("haiku")
    import haiku as hk
    import jax
    import jax.numpy as jnp
    xs = np.array([np.nan, np.inf, -np.inf, 1.0] * 256, np.float32)
    fn = (lambda k, x: hk.dropout(k, 0.5, x))
    y = np.asarray((jax.jit(fn) if jit else fn)(jax.random.key(0), jnp.asarray(xs)))
    for poison in (np.nan, np.inf, -np.inf):
        at = np.isnan(xs) if np.isnan(poison) else xs == poison
        kept = np.isnan(y[at]) if np.isnan(poison) else y[at] == poison
        assert np.all(kept | (y[at] == 0)) and 0.3 < kept.mean() < 0.7  # dropped ones are 0, not NaN
