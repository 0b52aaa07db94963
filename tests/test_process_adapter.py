"""The out-of-process adapter: real subprocesses speaking the JSON-lines protocol.

Well-behaved servers are the NumPy reference behind `serve`; misbehaving ones are small
scripts that crash, hang, print garbage or drop channels wrongly, to show each failure is
caught and names the adapter.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from adapters.reference import make_adapter as make_reference
from conformance.api import Call, NotOffered
from conformance.arrays import FLOAT_DTYPES, cast
from conformance.process_adapter import (ImplementationError, ProcessAdapter, ProcessAdapterError,
                                         decode_array, encode_array, remote_exception)
from conformance.targets import Unavailable, load_adapter

ROOT = Path(__file__).resolve().parent.parent
SERVE_REFERENCE = [sys.executable, "-m", "conformance.process_adapter", "serve", "reference"]

# Answers hello and open like a real server; then misbehaves on the first call as told by argv[1].
MISBEHAVING = textwrap.dedent("""
    import json, sys, time
    how = sys.argv[1]
    hello = {"protocol": 1, "name": "bad", "version": "0", "layout": "channels_first",
             "ops": ["dropout2d"], "modes": ["eager"], "devices": [{"kind": "cpu", "name": "x", "backend": "py"}]}
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "hello":
            answer = hello
        elif req["op"] == "open":
            answer = {"session": 1}
        elif how == "crash":
            print("segfault-ish: the implementation fell over", file=sys.stderr, flush=True)
            sys.exit(3)
        elif how == "garbage":
            print("Hi there, I log to stdout", flush=True)
            continue
        elif how == "hang":
            time.sleep(60)
        elif how == "wrong-id":
            req["id"] += 100
            answer = {"y": None}
        elif how == "custom-error":
            answer = {"error": {"type": "RangeError", "message": "p out of range"}}
        print(json.dumps({"id": req["id"], **answer}), flush=True)
""")


def _script(tmp_path: Path, text: str, name: str = "server.py") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _misbehaving(tmp_path: Path, how: str, **kwargs) -> ProcessAdapter:
    return ProcessAdapter([sys.executable, str(_script(tmp_path, MISBEHAVING)), how], name="bad", **kwargs)


def _x(shape=(4, 8, 3, 3), dtype="float32") -> np.ndarray:
    return cast(np.random.default_rng(0).uniform(0.5, 2.0, size=shape), dtype)


# ---------------------------------------------------------------- wire format

@pytest.mark.parametrize("dtype", [*FLOAT_DTYPES, "int32", "int64"])
def test_arrays_round_trip_bit_exact(dtype: str) -> None:
    x = cast(np.random.default_rng(1).standard_normal((2, 3, 5)) * 100, dtype)
    if dtype in FLOAT_DTYPES:
        x.reshape(-1)[:3] = cast(np.array([np.nan, np.inf, -0.0]), dtype)
    y = decode_array(json.loads(json.dumps(encode_array(x))))
    assert y.dtype == x.dtype and y.shape == x.shape
    assert x.tobytes() == y.tobytes()


def test_decode_rejects_a_short_buffer() -> None:
    wire = encode_array(np.zeros((2, 3), np.float32))
    wire["shape"] = [2, 4]
    with pytest.raises(ValueError, match="needs 32 bytes, got 24"):
        decode_array(wire)


def test_remote_errors_keep_their_type_name() -> None:
    assert type(remote_exception("ValueError", "m")) is ValueError
    custom = remote_exception("RangeError", "m")
    assert type(custom).__name__ == "RangeError" and isinstance(custom, ImplementationError)
    assert type(remote_exception("not a name!", "m")).__name__ == "ImplementationError"


# ---------------------------------------------------------------- a well-behaved server

def test_reference_through_the_process_is_bit_identical_to_in_process() -> None:
    remote, local = ProcessAdapter(SERVE_REFERENCE), make_reference()
    try:
        assert (remote.name, remote.version(), remote.ops(), remote.layout) == \
               (local.name, local.version(), local.ops(), local.layout)
        device = remote.devices()[0]
        r, l = remote.open(device, "eager", 1234), local.open(local.devices()[0], "eager", 1234)
        for dtype in ("float32", "bfloat16", "float16"):
            call = Call("dropout2d", _x(dtype=dtype), 0.5, grad=True)
            got, want = r.call(call), l.call(call)
            assert got.dtype == want.dtype == dtype
            assert got.y.tobytes() == want.y.tobytes() and got.grad.tobytes() == want.grad.tobytes()
        # successive calls draw fresh masks, as the Session contract requires
        assert r.call(Call("dropout2d", _x(), 0.5)).y.tobytes() != r.call(Call("dropout2d", _x(), 0.5)).y.tobytes()
    finally:
        remote.close()


def test_implementation_errors_and_not_offered_come_back_typed() -> None:
    adapter = ProcessAdapter(SERVE_REFERENCE)
    try:
        session = adapter.open(adapter.devices()[0], "eager", 1)
        with pytest.raises(ValueError, match="between 0 and 1"):
            session.call(Call("dropout2d", _x(), 1.5))
        with pytest.raises(NotOffered, match="implements only dropout2d"):
            session.call(Call("dropout", _x(), 0.5))
        session.call(Call("dropout2d", _x(), 0.5))  # the server survives its implementation's errors
    finally:
        adapter.close()


# ---------------------------------------------------------------- misbehaving servers

def test_a_crashing_process_is_a_clear_error_naming_the_adapter(tmp_path: Path) -> None:
    adapter = _misbehaving(tmp_path, "crash")
    session = adapter.open(adapter.devices()[0], "eager", 1)
    with pytest.raises(ProcessAdapterError) as info:
        session.call(Call("dropout2d", _x(), 0.5))
    message = str(info.value)
    assert "'bad'" in message and "died" in message and "exit code 3" in message
    assert "the implementation fell over" in message  # the stderr tail is quoted
    # The next session gets a fresh process; the dead one's session stays dead.
    fresh = adapter.open(adapter.devices()[0], "eager", 2)
    assert fresh.process is not session.process and fresh.process.alive
    with pytest.raises(ProcessAdapterError, match="restarted"):
        session.call(Call("dropout2d", _x(), 0.5))
    adapter.close()


def test_stdout_noise_is_a_protocol_error(tmp_path: Path) -> None:
    adapter = _misbehaving(tmp_path, "garbage")
    session = adapter.open(adapter.devices()[0], "eager", 1)
    with pytest.raises(ProcessAdapterError, match="not JSON.*Hi there.*log to stderr"):
        session.call(Call("dropout2d", _x(), 0.5))


def test_an_answer_to_another_request_is_a_protocol_error(tmp_path: Path) -> None:
    adapter = _misbehaving(tmp_path, "wrong-id")
    session = adapter.open(adapter.devices()[0], "eager", 1)
    with pytest.raises(ProcessAdapterError, match="answering id"):
        session.call(Call("dropout2d", _x(), 0.5))


def test_a_hanging_process_is_killed_at_the_time_limit(tmp_path: Path) -> None:
    adapter = _misbehaving(tmp_path, "hang", timeout=1.0)
    session = adapter.open(adapter.devices()[0], "eager", 1)
    started = time.monotonic()
    with pytest.raises(ProcessAdapterError, match="no answer within 1 s"):
        session.call(Call("dropout2d", _x(), 0.5))
    assert time.monotonic() - started < 10
    assert not session.process.alive


def test_custom_error_types_reach_the_engine_by_name(tmp_path: Path) -> None:
    adapter = _misbehaving(tmp_path, "custom-error")
    session = adapter.open(adapter.devices()[0], "eager", 1)
    with pytest.raises(ImplementationError) as info:
        session.call(Call("dropout2d", _x(), 0.5))
    assert type(info.value).__name__ == "RangeError"
    adapter.close()


def test_a_command_that_cannot_start_names_the_adapter() -> None:
    adapter = ProcessAdapter(["/nonexistent/dropout-server"], name="ghost")
    with pytest.raises(ProcessAdapterError, match="'ghost': cannot start"):
        adapter.version()


# ---------------------------------------------------------------- through the whole engine

ADAPTER_FILE = """
import sys
from conformance.process_adapter import ProcessAdapter
adapter = ProcessAdapter([sys.executable, {script!r}], name="viaproc", expectations_from="reference")
"""

# A protocol server whose dropout forgets the 1/(1-p) scale: the scaling spec must catch it.
UNSCALED = textwrap.dedent("""
    import numpy as np
    from conformance.function_adapter import function_adapter
    from conformance.process_adapter import serve
    def unscaled(x, p, *, training, seed):
        if not 0 <= p <= 1:
            raise ValueError("p out of range")
        keep = np.random.default_rng(seed).random(x.shape[:2]) >= p
        return np.where(keep.reshape(x.shape[:2] + (1,) * (x.ndim - 2)), x, 0).astype(x.dtype)
    serve(function_adapter(unscaled, name="unscaled"))
""")

SERVE_REFERENCE_SCRIPT = textwrap.dedent("""
    from adapters.reference import make_adapter
    from conformance.process_adapter import serve
    serve(make_adapter())
""")


def _run_cli(tmp_path: Path, server: str, *specs: str) -> tuple[int, list[dict]]:
    script = _script(tmp_path, server, "impl_server.py")
    ref = _script(tmp_path, ADAPTER_FILE.format(script=str(script)), "impl_adapter.py")
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "conformance", "run", "--adapter", f"{ref}:adapter", "--out", str(out),
           "--salt", "5eed"] + [arg for s in specs for arg in ("--spec", s)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    document = json.loads((out / "results.json").read_text())
    return proc.returncode, document["results"]


@pytest.mark.slow
def test_the_engine_passes_a_conforming_process_implementation(tmp_path: Path) -> None:
    code, results = _run_cli(tmp_path, SERVE_REFERENCE_SCRIPT, "channel-dropout-scaling*dropout2d*",
                             "channel-dropout-p-validation*dropout2d*", "dropout2d-seeding*")
    statuses = {r["status"] for r in results}
    assert code == 0 and statuses == {"pass"}, [(r["id"], r["message"]) for r in results if r["status"] != "pass"]
    assert len(results) == 32 + 8 + 1 and all(r["framework"] == "viaproc" for r in results)


@pytest.mark.slow
def test_the_engine_fails_a_nonconforming_process_implementation(tmp_path: Path) -> None:
    code, results = _run_cli(tmp_path, UNSCALED, "channel-dropout-scaling*dropout2d*")
    assert code == 1
    # A missing scale of 1/(1-p) >= 1.1 is far beyond 2 eps in every dtype; at p = 1/1024 it
    # hides inside float16/bfloat16 rounding, so those cases may pass.
    big = [r for r in results if r["params"]["p"] >= 0.1]
    assert len(big) == 28 and all(r["status"] == "fail" for r in big)
    assert all("scaled by 1 " in r["message"] for r in big)


# A server that misbehaves on one rate each, and answers the reference's dropout otherwise.
FLAKY = textwrap.dedent(r'''
"""A protocol server that misbehaves on one rate each: the run must go on past every one."""
import json, os, sys, time
import numpy as np
from adapters.reference import reference_dropout2d
from conformance.process_adapter import decode_array, encode_array

HELLO = {"protocol": 1, "name": "flaky", "version": "0", "layout": "channels_first", "ops": ["dropout2d"],
         "modes": ["eager"], "devices": [{"kind": "cpu", "name": "x", "backend": "py"}]}
seeds = {}
out = sys.stdout
for line in sys.stdin:
    req = json.loads(line)
    if req["op"] == "hello":
        answer = HELLO
    elif req["op"] == "open":
        seeds[len(seeds) + 1] = req["seed"]
        answer = {"session": len(seeds)}
    else:
        x, p = decode_array(req["x"]), req["call"]["p"]
        y = reference_dropout2d(x, p, training=req["call"]["training"], seed=seeds[req["session"]])
        answer = {"y": encode_array(y), "dtype": str(y.dtype)}
        if p == 0.1:
            answer = {"y": encode_array(np.ascontiguousarray(y[..., :-1])), "dtype": str(y.dtype)}  # consistent, wrong
        if p == 0.3333333333333333:
            answer = {"y": encode_array(y.astype(np.float64)), "dtype": "float64"}  # another dtype
        if p == 0.25:
            out.write("progress: 50%\n"); out.flush(); continue          # not JSON
        if p == 0.5:
            os.close(1); time.sleep(30); continue                        # closes stdout mid-case
        if p == 0.75:
            answer["y"]["shape"] = answer["y"]["shape"][:-1] + [answer["y"]["shape"][-1] + 1]  # shape vs bytes
        if p == 0.9:
            answer = {"y": {"dtype": "float8", "shape": [1], "data": ""}}  # a dtype nobody has
        if p == 0.999:
            time.sleep(600)                                              # never answers
    out.write(json.dumps({"id": req["id"], **answer}) + "\n"); out.flush()
''')


def test_a_misbehaving_server_costs_one_case_per_misdeed_and_the_run_goes_on(tmp_path: Path) -> None:
    script = _script(tmp_path, FLAKY, "flaky_server.py")
    ref = _script(tmp_path, "import sys\nfrom conformance.process_adapter import ProcessAdapter\n"
                  f"adapter = ProcessAdapter([sys.executable, {str(script)!r}], name='flaky', timeout=3, "
                  "expectations_from='reference')\n", "flaky_adapter.py")
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--adapter", f"{ref}:adapter",
                           "--spec", "channel-dropout-scaling*dropout2d*float32*", "--salt", "5eed", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    by_p = {r["params"]["p"]: r for r in json.loads((out / "results.json").read_text())["results"]}
    assert len(by_p) == 8
    expected = {0.25: "stdout line is not JSON (b'progress: 50%\\n')",
                0.5: "closed its stdout without answering",
                0.75: "needs 786432 bytes, got 524288",
                0.9: "unknown dtype 'float8'",
                0.999: "no answer within 3 s"}
    for p, words in expected.items():
        record = by_p[p]
        assert record["status"] == "error" and record["message"].startswith("ProcessAdapterError: "), record
        assert words in record["message"] and "'flaky'" in record["message"]
    # a well-formed answer of the wrong shape is the implementation's fault, said plainly
    assert by_p[0.1]["status"] == "fail"
    assert by_p[0.1]["message"] == "the output's shape [64, 512, 2, 1] is not the input's [64, 512, 2, 2]"
    # the server was restarted after each misdeed: the cases after them ran and passed
    assert {p for p, r in by_p.items() if r["status"] == "pass"} == {0.0009765625, 0.3333333333333333}


# ---------------------------------------------------------------- the TensorFlow.js example

TFJS_DIR = ROOT / "examples" / "tfjs"
TFJS_READY = shutil.which("node") is not None and (TFJS_DIR / "node_modules" / "@tensorflow" / "tfjs").is_dir()
needs_tfjs = pytest.mark.skipif(not TFJS_READY, reason="needs node and `npm ci --prefix examples/tfjs`")


def test_tfjs_without_node_modules_is_unavailable_with_the_install_command(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CONFORMANCE_TFJS_DIR", str(tmp_path))
    monkeypatch.delitem(sys.modules, "adapters.tfjs_adapter", raising=False)
    with pytest.raises(Unavailable, match="lacks the TensorFlow.js server: point CONFORMANCE_TFJS_DIR"):
        load_adapter("tfjs")  # no example here at all (an installed wheel ships none)
    for path in TFJS_DIR.glob("*.js*"):  # a copy of the example never installed
        shutil.copy(path, tmp_path)
    monkeypatch.delitem(sys.modules, "adapters.tfjs_adapter", raising=False)
    with pytest.raises(Unavailable, match="lacks @tensorflow/tfjs; run: npm ci --prefix examples/tfjs"):
        load_adapter("tfjs")
    # and the CLI reports it as unavailable (a skip), not a crash
    out = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "conformance", "run", "--framework", "tfjs", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "CONFORMANCE_TFJS_DIR": str(tmp_path)})
    (result,) = json.loads((out / "results.json").read_text())["results"]
    assert proc.returncode == 0 and result["status"] == "skipped" and "npm ci" in result["message"]


@needs_tfjs
def test_tfjs_adapter_drops_channels_and_declines_what_tfjs_lacks() -> None:
    adapter = load_adapter("tfjs")
    try:
        assert adapter.name == "tfjs" and adapter.ops() == ("dropout2d",)
        session = adapter.open(adapter.devices()[0], "eager", 7)
        x = _x(shape=(16, 32, 3, 3))
        out = session.call(Call("dropout2d", x, 0.25, grad=True))
        kept = out.y.reshape(16, 32, -1) != 0
        assert out.dtype == "float32" and (kept.all(axis=2) | ~kept.any(axis=2)).all()  # whole channels
        np.testing.assert_allclose(out.y[kept.all(axis=2)], (x / 0.75)[kept.all(axis=2)], rtol=2e-7)
        np.testing.assert_array_equal(out.grad != 0, out.y != 0)
        with pytest.raises(ValueError, match="between 0 and 1"):
            session.call(Call("dropout2d", x, 1.25))
        for call in (Call("dropout2d", _x(dtype="float16"), 0.5), Call("dropout2d", x, 0.5, inplace=True)):
            with pytest.raises(NotOffered):
                session.call(call)
    finally:
        adapter.close()


@needs_tfjs
def test_tfjs_own_dropout_is_under_test_as_it_is() -> None:
    """tf.dropout rejects p = 1 with a plain Error and lets NaN through a dropped channel."""
    adapter = load_adapter("adapters.tfjs_adapter:tf_dropout_adapter")
    try:
        assert adapter.name == "tfjs-dropout"
        session = adapter.open(adapter.devices()[0], "eager", 3)
        with pytest.raises(ImplementationError, match=r"range \[0, 1\)") as info:
            session.call(Call("dropout2d", _x(), 1.0))
        assert type(info.value).__name__ == "Error"
        x = np.full((64, 8, 2, 2), np.nan, np.float32)
        y = session.call(Call("dropout2d", x, 0.5)).y
        assert np.isnan(y).all()  # 0 * NaN: dropped channels are NaN, not zero
    finally:
        adapter.close()


@needs_tfjs
@pytest.mark.slow
def test_tfjs_runs_specs_through_the_engine(tmp_path: Path) -> None:
    out = tmp_path / "results"
    cmd = [sys.executable, "-m", "conformance", "run", "--framework", "tfjs", "--out", str(out),
           "--spec", "channel-dropout-p-validation*dropout2d*", "--spec", "channel-dropout-scaling*dropout2d*"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    results = json.loads((out / "results.json").read_text())["results"]
    assert proc.returncode == 0, proc.stdout[-3000:]
    by_dtype = {(r["params"].get("dtype"), r["status"]) for r in results}
    assert ("float32", "pass") in by_dtype and ("float16", "skipped") in by_dtype
    assert all(r["status"] == "pass" for r in results if r["spec"] == "channel-dropout-p-validation")
