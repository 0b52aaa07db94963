"""Small results documents for report tests: real record shapes, chosen statuses."""
from __future__ import annotations

import copy
from typing import Any

from conformance.record import Result, Status

SPECS = {
    "dropout2d-scaling": {"title": "Kept values are scaled by 1/(1-p)", "behavior": "scaling", "ops": ["dropout2d"],
                          "claim": "The remaining channels are scaled by 1/(1-p)",
                          "sources": [{"name": "MLX nn.Dropout2d", "url": "https://ml-explore.github.io/mlx/x.html",
                                       "quote": "scaled by 1/(1-p)"}]},
    "dropout2d-non-finite": {"title": "A dropped channel is zero even where the input is NaN", "behavior": "non-finite",
                             "ops": ["dropout2d"], "claim": "zero out entire channels",
                             "sources": [{"name": "PyTorch nn.Dropout2d",
                                          "url": "https://pytorch.org/docs/stable/generated/torch.nn.Dropout2d.html"}]},
}


def record(spec: str, framework: str, status: str, *, mode: str = "eager", p: float = 0.5,
           message: str = "ok", reason: str | None = None) -> dict[str, Any]:
    """One result entry as results.json stores it."""
    expected = {"outcome": "diverges", "reason": reason} if reason else {"outcome": "conforms"}
    test_id = f"{spec}[{framework}-cpu-{mode}-p{p}]"
    return Result(id=test_id, spec=spec, behavior=SPECS[spec]["behavior"], op="dropout2d", framework=framework,
                  device="cpu", mode=mode, params={"p": p}, status=Status(status), expected=expected,
                  observed={"max_error_eps": 0.5}, message=message, p_value=0.42, n=262144, min_detectable=0.0099,
                  false_alarm=1e-9, seed=12345,
                  reproduce=f"python -m conformance run --framework {framework} --spec '{test_id}' --salt s1").to_json()


def document(framework: str, version: str, records: list[dict[str, Any]], salt: str = "s1") -> dict[str, Any]:
    return {"run": {"format": 1, "suite_version": "0.1.0", "salt": salt, "alpha": 1e-9, "power": 0.999,
                    "delta": 0.01, "false_alarm_bound": 2e-8, "false_alarm_target": 1e-6, "python": "3.11",
                    "platform": "linux", "command": "python -m conformance run",
                    "targets": [{"framework": framework, "version": version, "device": "cpu", "device_kind": "cpu",
                                 "device_name": "x86_64", "backend": "native", "driver": None, "mode": "eager",
                                 "layout": "channels_first"}]},
            "specs": copy.deepcopy(SPECS), "results": records}


def torch_doc() -> dict[str, Any]:
    return document("torch", "2.13.0", [
        record("dropout2d-scaling", "torch", "pass"),
        record("dropout2d-scaling", "torch", "fail", p=0.9, message="kept values scaled by 9 <script>alert(1)</script>"),
        record("dropout2d-non-finite", "torch", "expected-divergence", message="NaN stays NaN",
               reason="PyTorch multiplies by the mask"),
    ])


def mlx_doc() -> dict[str, Any]:
    return document("mlx", "0.32.4", [
        record("dropout2d-scaling", "mlx", "pass"),
        record("dropout2d-scaling", "mlx", "pass", p=0.9),
        record("dropout2d-non-finite", "mlx", "pass", message="dropped channels became zero"),
    ], salt="s2")
