"""Out-of-process adapters: an implementation in any language, behind a JSON-lines protocol.

The engine starts the implementation as a subprocess and speaks to it over stdin/stdout, one
JSON object per line, strictly request then answer (protocol: docs/adapters.md). Stdout is
reserved for answers; the process logs to stderr, whose tail is quoted when it misbehaves.

    adapter = ProcessAdapter(["node", "examples/tfjs/dropout2d_server.js"], name="tfjs")

`serve(adapter)` is the other side for Python: it turns any `Adapter` into a protocol server
(`python -m conformance.process_adapter serve REF`), so an implementation that cannot share
an interpreter with the suite (another virtualenv, conflicting pins) still runs under it.
"""
from __future__ import annotations

import argparse
import atexit
import base64
import builtins
import collections
import json
import os
import subprocess
import sys
import threading
from typing import IO, Any, Sequence

import numpy as np

from .api import Adapter, AdapterError, Call, Device, NotOffered, Output, Session
from .arrays import FLOAT_DTYPES, INT_DTYPES, dtype_info, dtype_name

PROTOCOL_VERSION = 1
WIRE_DTYPES = FLOAT_DTYPES + INT_DTYPES
STDERR_TAIL_LINES = 40
MAX_ANSWER_BYTES = 1 << 30  # the largest case's answer is about 50 MB of base64; past this, a runaway line


class ProcessAdapterError(AdapterError):
    """The implementation process crashed, timed out or broke the protocol."""


class ImplementationError(Exception):
    """An error the implementation reported under a name that is not a Python built-in exception."""


_REMOTE_ERRORS: dict[str, type[Exception]] = {}


def remote_exception(type_name: str, message: str) -> Exception:
    """An exception whose class name is the one the implementation reported.

    The engine's `raises` check compares class names, so ValueError must arrive as ValueError.
    """
    builtin = getattr(builtins, type_name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception):
        return builtin(message)
    if not type_name.isidentifier():
        type_name = "ImplementationError"
    cls = _REMOTE_ERRORS.setdefault(type_name, type(type_name, (ImplementationError,), {}))
    return cls(message)


# ---------------------------------------------------------------- arrays on the wire

def encode_array(x: np.ndarray) -> dict[str, Any]:
    """{"dtype", "shape", "data": base64 of the raw little-endian bytes in C order}."""
    name = dtype_name(x)
    little = np.ascontiguousarray(x, dtype=dtype_info(name).numpy.newbyteorder("<"))
    return {"dtype": name, "shape": list(x.shape), "data": base64.b64encode(little.tobytes()).decode("ascii")}


def decode_array(obj: dict[str, Any]) -> np.ndarray:
    if obj["dtype"] not in WIRE_DTYPES:
        raise ValueError(f"unknown dtype {obj['dtype']!r} (known: {', '.join(WIRE_DTYPES)})")
    dt = dtype_info(obj["dtype"]).numpy
    raw = base64.b64decode(obj["data"])
    shape = tuple(int(n) for n in obj["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != count * dt.itemsize:
        raise ValueError(f"array of {obj['dtype']} {list(shape)} needs {count * dt.itemsize} bytes, got {len(raw)}")
    return np.frombuffer(raw, dtype=dt.newbyteorder("<")).astype(dt).reshape(shape)


def _call_request(call: Call) -> dict[str, Any]:
    return {"op": call.op, "p": call.p, "training": call.training, "form": call.form,
            "inplace": call.inplace, "grad": call.grad, "seeding": call.seeding}


# ---------------------------------------------------------------- client: the engine's side

class _Process:
    """One running implementation process: request/answer with a watchdog per request."""

    def __init__(self, command: Sequence[str], label: str, cwd: str | None, env: dict[str, str] | None):
        self.label, self.command = label, list(command)
        try:
            self.proc = subprocess.Popen(self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=cwd,
                                         env=None if env is None else {**os.environ, **env})
        except OSError as exc:
            raise ProcessAdapterError(f"{label}: cannot start {' '.join(self.command)}: {exc}") from exc
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self.drainer = threading.Thread(target=self._drain_stderr, daemon=True)
        self.drainer.start()
        self.next_id = 0
        self.timed_out = False

    def _drain_stderr(self) -> None:
        for line in self.proc.stderr:  # without a reader, a chatty process blocks on a full pipe
            self.stderr_tail.append(line.decode("utf-8", "replace").rstrip())

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def _kill(self) -> None:
        self.timed_out = True
        self.proc.kill()

    def _broken(self, what: str, doing: str) -> ProcessAdapterError:
        self.proc.kill()
        self.proc.wait()
        self.drainer.join(timeout=2)  # the last words before dying are usually the useful ones
        tail = "\n".join(self.stderr_tail)
        return ProcessAdapterError(f"{self.label}: {what} while answering {doing!r} "
                                   f"(command: {' '.join(self.command)}; exit code {self.proc.returncode})"
                                   + (f"; stderr tail:\n{tail}" if tail else "; no stderr output"))

    def request(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        self.next_id += 1
        message = {"id": self.next_id, **message}
        doing = message["op"]
        watchdog = threading.Timer(timeout, self._kill)
        watchdog.start()
        try:
            self.proc.stdin.write(json.dumps(message).encode() + b"\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline(MAX_ANSWER_BYTES)
        except (BrokenPipeError, OSError):
            line = b""
        finally:
            watchdog.cancel()
        if self.timed_out:
            raise self._broken(f"no answer within {timeout:g} s (process killed)", doing)
        if not line:
            try:  # EOF: either the process is dying (give it a moment to be reaped) or it closed stdout
                self.proc.wait(timeout=0.5)
            except subprocess.TimeoutExpired:
                pass
            if self.alive:
                raise self._broken("protocol error: the process closed its stdout without answering "
                                   "(it was still running: killed)", doing)
            raise self._broken("the process died", doing)
        if not line.endswith(b"\n"):
            raise self._broken(f"protocol error: an answer line longer than {MAX_ANSWER_BYTES} bytes", doing)
        try:
            answer = json.loads(line)
        except json.JSONDecodeError:
            raise self._broken(f"protocol error: stdout line is not JSON ({line[:200]!r}); "
                               "stdout is reserved for answers, log to stderr", doing) from None
        if not isinstance(answer, dict) or answer.get("id", self.next_id) != self.next_id:
            raise self._broken(f"protocol error: expected an object answering id {self.next_id}, "
                               f"got {str(answer)[:200]}", doing)
        return answer

    def close(self) -> None:
        if self.alive:
            try:
                self.proc.stdin.close()  # EOF on stdin: the server's cue to exit
                self.proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


class _ProcessSession(Session):
    def __init__(self, adapter: "ProcessAdapter", process: _Process, session_id: Any):
        self.adapter, self.process, self.id = adapter, process, session_id

    def call(self, call: Call) -> Output:
        if self.process is not self.adapter._process:
            raise ProcessAdapterError(f"{self.adapter.label}: the process holding this session was restarted")
        answer = self.adapter._ask({"op": "call", "session": self.id, "call": _call_request(call),
                                    "x": encode_array(call.x)}, self.process)
        try:
            grad = answer.get("grad")
            return Output(y=decode_array(answer["y"]), dtype=answer.get("dtype") or answer["y"]["dtype"],
                          same_object=answer.get("same_object"), input_modified=answer.get("input_modified"),
                          grad=None if grad is None else decode_array(grad),
                          warnings=[str(w) for w in answer.get("warnings", [])])
        except (KeyError, TypeError, ValueError) as exc:
            raise ProcessAdapterError(f"{self.adapter.label}: protocol error: malformed call answer "
                                      f"({type(exc).__name__}: {exc})") from exc


class ProcessAdapter(Adapter):
    """An adapter whose implementation runs in a subprocess speaking the JSON-lines protocol.

    The process starts on first use and is restarted for the next session if it dies, so one
    crash costs one test, not the run. `timeout` bounds every request; `start_timeout` bounds
    the first answer (`hello`), which includes the implementation's import time.
    """

    def __init__(self, command: Sequence[str], name: str | None = None, *, timeout: float = 120.0,
                 start_timeout: float = 120.0, cwd: str | None = None, env: dict[str, str] | None = None,
                 expectations_from: str | None = None):
        self.command, self.timeout, self.start_timeout = list(command), timeout, start_timeout
        self.cwd, self.env = cwd, env
        self._name = name
        self.expectations_from = expectations_from
        self._process: _Process | None = None
        self._hello: dict[str, Any] | None = None
        atexit.register(self.close)

    @property
    def label(self) -> str:
        return f"process adapter {self._name or self.command[-1]!r}"

    # -- process lifecycle

    def _running(self) -> _Process:
        if self._process is None or not self._process.alive:
            self._process = _Process(self.command, self.label, self.cwd, self.env)
            hello = self._ask({"op": "hello", "protocol": PROTOCOL_VERSION}, self._process, self.start_timeout)
            missing = [k for k in ("name", "version", "ops", "devices") if k not in hello]
            if missing:
                raise ProcessAdapterError(f"{self.label}: protocol error: hello answer lacks {missing}")
            self._hello = hello
        return self._process

    def _ask(self, message: dict[str, Any], process: _Process, timeout: float | None = None) -> dict[str, Any]:
        answer = process.request(message, self.timeout if timeout is None else timeout)
        if "not_offered" in answer:
            raise NotOffered(str((answer["not_offered"] or {}).get("message", "not offered")))
        if "error" in answer:
            err = answer["error"] or {}
            raise remote_exception(str(err.get("type", "ImplementationError")), str(err.get("message", "")))
        return answer

    def hello(self) -> dict[str, Any]:
        if self._hello is None:
            self._running()
        return self._hello

    def close(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None

    # -- the Adapter contract

    @property
    def name(self) -> str:  # type: ignore[override]
        return self._name or str(self.hello()["name"])

    @property
    def layout(self) -> str:  # type: ignore[override]
        return str(self.hello().get("layout", "channels_first"))

    def version(self) -> str:
        return str(self.hello()["version"])

    def devices(self) -> list[Device]:
        return [Device(kind=d["kind"], name=d.get("name", d["kind"]), backend=d.get("backend", "native"),
                       driver=d.get("driver"), index=int(d.get("index", 0))) for d in self.hello()["devices"]]

    def modes(self) -> tuple[str, ...]:
        return tuple(self.hello().get("modes", ["eager"]))

    def ops(self) -> tuple[str, ...]:
        return tuple(self.hello()["ops"])

    @property
    def seeding_paths(self) -> tuple[str, ...]:  # type: ignore[override]
        return tuple(self.hello().get("seeding_paths", ["explicit"]))

    def open(self, device: Device, mode: str, seed: int) -> Session:
        process = self._running()
        answer = self._ask({"op": "open", "device": device.label, "mode": mode, "seed": seed}, process)
        if "session" not in answer:
            raise ProcessAdapterError(f"{self.label}: protocol error: open answer lacks 'session'")
        return _ProcessSession(self, process, answer["session"])


# ---------------------------------------------------------------- server: a Python implementation's side

def _answer_call(sessions: dict[int, Session], request: dict[str, Any]) -> dict[str, Any]:
    session = sessions[request["session"]]
    c = request["call"]
    call = Call(op=c["op"], x=decode_array(request["x"]).copy(), p=float(c["p"]),
                training=bool(c.get("training", True)), form=c.get("form", "module"),
                inplace=bool(c.get("inplace", False)), grad=bool(c.get("grad", False)),
                seeding=str(c.get("seeding", "explicit")))
    out = session.call(call)
    return {"y": encode_array(np.asarray(out.y)), "dtype": out.dtype, "same_object": out.same_object,
            "input_modified": out.input_modified,
            "grad": None if out.grad is None else encode_array(np.asarray(out.grad)),
            "warnings": list(out.warnings)}


def _answer(adapter: Adapter, sessions: dict[int, Session], request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "hello":
        return {"protocol": PROTOCOL_VERSION, "name": adapter.name, "version": adapter.version(),
                "layout": adapter.layout, "ops": list(adapter.ops()), "modes": list(adapter.modes()),
                "seeding_paths": list(adapter.seeding_paths),
                "devices": [{"kind": d.kind, "name": d.name, "backend": d.backend, "driver": d.driver,
                             "index": d.index} for d in adapter.devices()]}
    if op == "open":
        device = next((d for d in adapter.devices() if d.label == request["device"]), None)
        if device is None:
            raise ValueError(f"{adapter.name} has no device {request['device']!r}")
        sessions[len(sessions) + 1] = adapter.open(device, request["mode"], int(request["seed"]))
        return {"session": len(sessions)}
    if op == "call":
        return _answer_call(sessions, request)
    raise ValueError(f"unknown request op {op!r}")


def serve(adapter: Adapter, stdin: IO[bytes] | None = None, stdout: IO[bytes] | None = None) -> None:
    """Answer protocol requests for `adapter` until stdin closes."""
    if stdout is None:  # keep fd 1 for answers; anything else printing to stdout goes to stderr
        stdout = os.fdopen(os.dup(1), "wb")
        os.dup2(2, 1)
        sys.stdout = sys.stderr
    sessions: dict[int, Session] = {}
    for line in stdin or sys.stdin.buffer:
        if not line.strip():
            continue
        request: dict[str, Any] = {}
        try:
            request = json.loads(line)
            answer = _answer(adapter, sessions, request)
        except NotOffered as exc:
            answer = {"not_offered": {"message": str(exc)}}
        except Exception as exc:  # noqa: BLE001 - the implementation's errors travel as data
            answer = {"error": {"type": type(exc).__name__, "message": str(exc)}}
        stdout.write(json.dumps({"id": request.get("id"), **answer}).encode() + b"\n")
        stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.process_adapter")
    sub = parser.add_subparsers(dest="verb", required=True)
    sp = sub.add_parser("serve", help="serve an adapter (framework name or PATH.py:NAME) over stdin/stdout")
    sp.add_argument("ref")
    args = parser.parse_args(argv)
    from .targets import load_adapter
    serve(load_adapter(args.ref))
    return 0


if __name__ == "__main__":
    sys.exit(main())
