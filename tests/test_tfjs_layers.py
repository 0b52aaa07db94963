"""TensorFlow.js's layers API (tfjs-layers): examples/tfjs/dropout2d_server.js --impl tf.layers behind the
process protocol. Skips without `node` or `npm ci --prefix examples/tfjs`, like the tfjs tests in
tests/test_process_adapter.py: the real TensorFlow.js, no mocks.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.api import Call, NotOffered
from conformance.checks.alpha import ALPHA_PRIME, alpha_constants
from conformance.process_adapter import ImplementationError
from conformance.targets import Unavailable, load_adapter

ROOT = Path(__file__).resolve().parent.parent
TFJS_DIR = ROOT / "examples" / "tfjs"
TFJS_READY = shutil.which("node") is not None and (TFJS_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir()
needs_tfjs = pytest.mark.skipif(not TFJS_READY, reason="needs node and `npm ci --prefix examples/tfjs`")


@pytest.fixture(scope="module")
def adapter():
    if not TFJS_READY:
        pytest.skip("needs node and `npm ci --prefix examples/tfjs`")
    adapter = load_adapter("tfjs-layers")
    yield adapter
    adapter.close()


def _x(shape=(16, 8, 4), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.5, 2.0, size=shape).astype(np.float32)


def _call(op: str, x: np.ndarray, p: float, **kwargs) -> Call:
    """A Call on the adapter's usual seeding path (Call's own default is "explicit")."""
    return Call(op, x, p, **{"seeding": "global", **kwargs})


def _session(adapter, seed: int = 7):
    return adapter.open(adapter.devices()[0], "eager", seed)


def test_without_node_modules_it_is_unavailable_with_the_install_command(tmp_path, monkeypatch) -> None:
    for path in TFJS_DIR.glob("*.js*"):  # a copy of the example never installed
        shutil.copy(path, tmp_path)
    monkeypatch.setenv("CONFORMANCE_TFJS_DIR", str(tmp_path))
    for module in ("adapters.tfjs_adapter", "adapters.tfjs_layers_adapter"):
        monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(Unavailable, match="lacks @tensorflow/tfjs; run: npm ci --prefix examples/tfjs"):
        load_adapter("tfjs-layers")


@needs_tfjs
def test_describes_itself(adapter) -> None:
    assert adapter.name == "tfjs-layers" and adapter.version() == "4.22.0"
    assert adapter.ops() == ("dropout", "dropout1d", "alpha_dropout")
    assert adapter.layout == "channels_last" and adapter.modes() == ("eager",)
    assert adapter.seeding_paths == ("global", "explicit")
    # the pure-JS bundle registers only its CPU backend under Node.js
    assert [(d.kind, d.backend) for d in adapter.devices()] == [("cpu", "cpu")]


@needs_tfjs
@pytest.mark.parametrize("seeding", ["global", "explicit"])
def test_dropout_scales_kept_elements_and_the_gradient_follows_the_mask(adapter, seeding: str) -> None:
    x = _x((64, 32))
    out = _session(adapter).call(Call("dropout", x, 0.25, grad=True, seeding=seeding))
    kept = out.y != 0
    assert out.dtype == "float32" and 0.15 < 1 - kept.mean() < 0.35
    np.testing.assert_allclose(out.y[kept], (x / 0.75)[kept], rtol=2e-7)
    np.testing.assert_array_equal(out.grad != 0, kept)
    np.testing.assert_allclose(out.grad[kept], np.float32(1 / 0.75), rtol=2e-7)
    assert out.same_object is False and out.input_modified is False


@needs_tfjs
def test_spatial_dropout1d_drops_whole_channels_last_channels(adapter) -> None:
    x = _x((16, 10, 32))  # (N, L, C), Keras's layout
    y = _session(adapter).call(Call("dropout1d", x, 0.5, seeding="explicit")).y
    kept = y != 0
    assert (kept.all(axis=1) | ~kept.any(axis=1)).all()  # constant along L
    assert 0.3 < 1 - kept.all(axis=1).mean() < 0.7
    with pytest.raises(ValueError, match="expected ndim=3, found ndim=2"):
        _session(adapter).call(Call("dropout1d", x[0], 0.5))


@needs_tfjs
def test_seeding_paths_reproduce_and_successive_calls_draw_fresh_masks(adapter) -> None:
    x = _x((64, 64))
    for seeding in ("global", "explicit"):
        def stream(seed):
            s = _session(adapter, seed)
            return [s.call(Call("dropout", x, 0.5, seeding=seeding)).y.tobytes() for _ in range(2)]
        first, again, other = stream(11), stream(11), stream(12)
        assert first == again and first != other and first[0] != first[1], seeding


@needs_tfjs
def test_alpha_dropout_sets_dropped_units_to_minus_alpha_prime(adapter) -> None:
    """The finding in expectations/tfjs-layers.yaml: (keptIdx - 1) * alphaP puts +|alpha'| where a unit is dropped."""
    p = 0.5
    x = _x((128, 64))
    out = _session(adapter).call(_call("alpha_dropout", x, p, grad=True))
    a, b, documented = alpha_constants(p)
    kept = np.isclose(out.y, a * x + b, rtol=1e-6)
    dropped = ~kept
    assert 0.4 < dropped.mean() < 0.6
    np.testing.assert_allclose(out.y[dropped], a * -ALPHA_PRIME + b, rtol=1e-6)  # not a * ALPHA_PRIME + b
    assert not np.isclose(documented, a * -ALPHA_PRIME + b)
    np.testing.assert_allclose(out.grad[kept], a, rtol=1e-6)
    np.testing.assert_array_equal(out.grad[dropped], 0)
    with pytest.raises(NotOffered, match="takes no seed"):
        _session(adapter).call(Call("alpha_dropout", x, p, seeding="explicit"))


@needs_tfjs
@pytest.mark.parametrize("op", ["dropout", "dropout1d", "alpha_dropout"])
@pytest.mark.parametrize("p", [-0.5, 1.0, 1.5])
def test_rates_outside_the_open_interval_apply_no_dropout(adapter, op: str, p: float) -> None:
    """No validation, and rate 1 keeps everything: Dropout clamps the rate, and both call()s drop only for 0 < rate < 1."""
    x = _x((8, 6, 4))
    out = _session(adapter).call(_call(op, x, p))
    assert out.y.tobytes() == x.tobytes() and out.same_object is False  # Layer.apply copies an input it returns


@needs_tfjs
def test_dropped_non_finite_values_become_nan(adapter) -> None:
    x = np.full((64, 64), np.inf, np.float32)
    y = _session(adapter).call(_call("dropout", x, 0.5)).y
    assert np.isnan(y).any() and not (y == 0).any()  # 0 * Inf, from tf.dropout's multiply


@needs_tfjs
def test_eval_returns_the_values_and_what_tfjs_lacks_is_not_offered(adapter) -> None:
    session = _session(adapter)
    x = _x()
    for op in ("dropout", "dropout1d", "alpha_dropout"):
        assert session.call(_call(op, x, 0.5, training=False)).y.tobytes() == x.tobytes()
    for call in (Call("dropout", x.astype(np.float16), 0.5), Call("dropout", x, 0.5, inplace=True),
                 Call("dropout", x, 0.5, form="functional"), Call("dropout2d", x[..., None], 0.5)):
        with pytest.raises(NotOffered):
            session.call(call)
    with pytest.raises(ImplementationError, match="floating point tensor") as info:
        session.call(Call("dropout", x.astype(np.int32), 0.5))
    assert type(info.value).__name__ == "Error"


@needs_tfjs
def test_the_existing_tfjs_targets_still_serve_dropout2d() -> None:
    for ref, name in (("tfjs", "tfjs"), ("adapters.tfjs_adapter:tf_dropout_adapter", "tfjs-dropout")):
        other = load_adapter(ref)
        try:
            assert other.name == name and other.ops() == ("dropout2d",) and other.layout == "channels_first"
            assert other.seeding_paths == ("explicit",)
            y = other.open(other.devices()[0], "eager", 3).call(Call("dropout2d", _x((16, 32, 3, 3)), 0.5)).y
            kept = y.reshape(16, 32, -1) != 0
            assert (kept.all(axis=2) | ~kept.any(axis=2)).all()
        finally:
            other.close()


@needs_tfjs
@pytest.mark.slow
def test_runs_specs_through_the_engine(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "tfjs-layers", "--out", str(out),
           "--spec", "dropout-p-*", "--spec", "alpha-dropout-values", "--spec", "channel-dropout-granularity"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stdout[-3000:]
    results = json.loads((out / "results.json").read_text())["results"]
    status = {(r["spec"], r["op"], r["status"]) for r in results if r["params"].get("form", "module") == "module"
              and r["params"].get("dtype", "float32") == "float32"}
    assert ("alpha-dropout-values", "alpha_dropout", "expected-divergence") in status
    assert ("dropout-p-one", "dropout", "expected-divergence") in status
    assert ("channel-dropout-granularity", "dropout1d", "pass") in status
