"""The keras-openvino adapter: Keras 3 on its inference-only OpenVINO backend.

Skips where keras or openvino is missing, or where this process already runs keras on another backend
(Keras reads KERAS_BACKEND once). Run with the OpenVINO venv and KERAS_BACKEND=openvino.
"""
from __future__ import annotations

import sys

import numpy as np
import pytest

from conformance.adapter_kit import AdapterSession, call_seed
from conformance.api import OPS, Adapter, Call, NotOffered
from conformance.arrays import LAYOUTS
from conformance.checks import CHECKS, CheckContext

pytest.importorskip("openvino")
pytest.importorskip("keras")
if "keras" in sys.modules and sys.modules["keras"].backend.backend() != "openvino":
    pytest.skip("keras already loaded with another backend", allow_module_level=True)


@pytest.fixture(scope="module")
def adapter() -> Adapter:
    try:
        from conformance.targets import load_adapter
        return load_adapter("keras-openvino")
    except ImportError as e:  # keras was imported with another backend first
        pytest.skip(str(e))


def _session(adapter: Adapter, mode: str = "eager", seed: int = 7):
    return adapter.open(adapter.devices()[0], mode, seed)


def _ones(shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
    return np.ones(shape, dtype)


# ---------------------------------------------------------------- what it offers

def test_adapter_describes_itself(adapter: Adapter) -> None:
    import keras
    assert adapter.name == "keras-openvino" and keras.backend.backend() == "openvino"
    assert adapter.version() == keras.__version__
    assert adapter.layout in LAYOUTS and adapter.layout == "channels_last"
    assert adapter.modes() == ("eager", "compiled")
    assert adapter.seeding_paths == ("explicit", "global")
    assert set(adapter.ops()) <= set(OPS) and "feature_alpha_dropout" not in adapter.ops()
    assert type(_session(adapter)).call is AdapterSession.call


def test_devices_are_the_openvino_devices_keras_can_run_on(adapter: Adapter) -> None:
    """OpenVINO's device list is real; Keras's backend runs everything on get_device() ("CPU")."""
    from adapters.keras_openvino_adapter import keras_device, ov_devices
    assert keras_device() == "CPU" and "CPU" in ov_devices()
    devices = adapter.devices()
    assert [(d.kind, d.backend) for d in devices] == [("cpu", "openvino")]
    assert devices[0].name  # OpenVINO's FULL_DEVICE_NAME


# ---------------------------------------------------------------- eager: training mode runs

def test_element_dropout_values(adapter: Adapter) -> None:
    y = _session(adapter).call(Call(op="dropout", x=_ones((64, 64)), p=0.5)).y
    assert set(np.unique(y).tolist()) == {0.0, 2.0}
    assert 0.4 < float((y == 0).mean()) < 0.6


@pytest.mark.parametrize("op", ["dropout", "dropout2d", "alpha_dropout"])
def test_eval_returns_the_input_object(adapter: Adapter, op: str) -> None:
    x = np.random.default_rng(0).standard_normal((4, 3, 3, 8)).astype(np.float32)
    out = _session(adapter).call(Call(op=op, x=x, p=0.25, training=False))
    np.testing.assert_array_equal(out.y, x)
    assert out.same_object and not out.input_modified


def test_channel_dropout_is_per_channel(adapter: Adapter) -> None:
    ctx = CheckContext(adapter, adapter.devices()[0], "eager", "dropout2d",
                       {"shape": [8, 16, 4, 4], "p": 0.5, "claim_axes": [0, 1]}, seed=3)
    verdict = CHECKS["mask-axes"].fn(ctx)
    assert verdict.conforms, verdict.message


def test_alpha_dropout_constants(adapter: Adapter) -> None:
    ctx = CheckContext(adapter, adapter.devices()[0], "eager", "alpha_dropout",
                       {"shape": [16, 64, 4], "p": 0.5}, seed=5)
    verdict = CHECKS["alpha-values"].fn(ctx)
    assert verdict.conforms, verdict.message


@pytest.mark.parametrize("seeding", ["explicit", "global"])
@pytest.mark.parametrize("form", ["module", "functional"])
@pytest.mark.parametrize("op, shape", [("dropout", (32, 32)), ("dropout2d", (16, 2, 2, 32))])
def test_streams_reproduce_per_seed(adapter: Adapter, seeding: str, form: str, op: str,
                                    shape: tuple[int, ...]) -> None:
    call = Call(op=op, x=_ones(shape), p=0.375, form=form, seeding=seeding)

    def stream(seed: int, calls: int = 2) -> list[np.ndarray]:
        session = _session(adapter, seed=seed)
        return [session.call(call).y for _ in range(calls)]
    first = stream(21)
    np.testing.assert_array_equal(first, stream(21))
    assert not np.array_equal(first[0], first[1])
    assert not np.array_equal(first[0], stream(22, 1)[0])


def test_explicit_layer_seed_is_the_session_stream(adapter: Adapter) -> None:
    import keras
    x = _ones((16, 16))
    session = _session(adapter, seed=8)
    for n in range(2):
        y = session.call(Call(op="dropout", x=x, p=0.5)).y
        layer = keras.layers.Dropout(0.5, seed=call_seed(8, n))
        np.testing.assert_array_equal(y, keras.ops.convert_to_numpy(layer(x, training=True)))


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float64"])
def test_functional_keeps_the_dtype_and_layers_return_float32(adapter: Adapter, dtype: str) -> None:
    from conformance.arrays import cast
    x = cast(_ones((16, 16)), dtype)
    session = _session(adapter)
    assert session.call(Call(op="dropout", x=x, p=0.5, form="functional")).dtype == dtype
    assert session.call(Call(op="dropout", x=x, p=0.5)).dtype == "float32"  # the layer's dtype policy


# ---------------------------------------------------------------- what the backend does not offer

@pytest.mark.parametrize("mode", ["eager", "compiled"])
def test_gradients_are_not_offered(adapter: Adapter, mode: str) -> None:
    with pytest.raises(NotOffered, match="inference only.*openvino/core.py"):
        _session(adapter, mode).call(Call(op="dropout", x=_ones((4, 4)), p=0.5, training=False, grad=True))


def test_in_place_is_not_offered(adapter: Adapter) -> None:
    with pytest.raises(NotOffered, match="in-place"):
        _session(adapter).call(Call(op="dropout", x=_ones((4, 4)), p=0.5, inplace=True))


@pytest.mark.parametrize("form, match", [("module", "training=False"), ("functional", "no training flag")])
def test_compiled_training_is_not_offered(adapter: Adapter, form: str, match: str) -> None:
    with pytest.raises(NotOffered, match=match):
        _session(adapter, "compiled").call(Call(op="dropout", x=_ones((4, 4)), p=0.5, form=form))


# ---------------------------------------------------------------- compiled: the trainer's predict path

@pytest.mark.parametrize("op", ["dropout", "dropout2d", "alpha_dropout"])
def test_compiled_eval_is_predict(adapter: Adapter, op: str) -> None:
    """Eval through model.predict_on_batch, i.e. ov.compile_model of the traced model: the input's values,
    as a new array (the compiled model's output), in the layer's float32."""
    x = np.random.default_rng(1).standard_normal((4, 3, 3, 8)).astype(np.float32)
    out = _session(adapter, "compiled").call(Call(op=op, x=x, p=0.25, training=False))
    np.testing.assert_array_equal(out.y, x)
    assert out.dtype == "float32" and out.same_object is False and not out.input_modified


def test_compiled_eval_keeps_the_input_dtype_the_model_declares(adapter: Adapter) -> None:
    x = np.arange(2 * 3 * 3 * 4, dtype=np.int32).reshape(2, 3, 3, 4)
    out = _session(adapter, "compiled").call(Call(op="dropout2d", x=x, p=0.5, training=False))
    assert out.dtype == "int32"  # keras.Input(dtype="int32"): not cast to a float32 Input
    np.testing.assert_array_equal(out.y, x)


def test_compiled_eval_raises_what_eager_raises(adapter: Adapter) -> None:
    for mode in ("eager", "compiled"):
        with pytest.raises(ValueError, match="rate"):
            _session(adapter, mode).call(Call(op="dropout", x=_ones((4, 4)), p=1.5, training=False))


# ---------------------------------------------------------------- upstream behaviour the findings cite

def test_upstream_a_reused_seeded_layer_repeats_its_first_mask() -> None:
    """Keras 3.15.1, backend/openvino/random.py _random_uniform: max(1, seed & 0x7FFFFFFF) maps the seed
    states [s, 0] and [s, 1] of a layer's first two calls to the same OpenVINO seeds, so the same mask.
    The suite calls every layer once (a fresh seeded layer per call), so only this test sees it; it fails,
    on purpose, once upstream fixes it (then update reports and findings)."""
    import keras
    x = np.ones((64, 64), np.float32)
    layer = keras.layers.Dropout(0.5, seed=1234)
    masks = [keras.ops.convert_to_numpy(layer(x, training=True)) == 0 for _ in range(3)]
    assert np.array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[1], masks[2])
    zero, one = (keras.ops.convert_to_numpy(keras.random.dropout(x, 0.5, seed=s)) for s in (0, 1))
    np.testing.assert_array_equal(zero, one)  # int seeds 0 and 1 clamp to the same global seed
