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


# ------------------------------------------------------------ a coverage-sweep run (issue 13)
# One framework in two modes over dtype x rank x p, plus a non-finite-values spec, with statuses
# chosen so that each axis filter changes the counts in a known way:
#   dropout-sweep-scaling: 4 dtypes x 3 ranks x 3 p x 2 modes = 72 cases;
#     eager fails for float16 at p=0.9 (3 cases), compiled errors for bfloat16 at rank 1 (3 cases)
#     and skips float64 (9 cases); the rest pass. float32 is the default: its params carry no dtype.
#   dropout2d-non-finite: eager, rank 4, p=0.5, values nan/inf/neg_zero x dtype float16/default = 6
#     cases; nan is an expected divergence.
SWEEP_SPEC = {"title": "Kept values are scaled by 1/(1-p) over the sweep grid", "behavior": "scaling",
              "ops": ["dropout"], "claim": "outputs are scaled by a factor of 1/(1-p)",
              "sources": [{"name": "PyTorch nn.Dropout", "url": "https://pytorch.org/docs/stable/generated/torch.nn.Dropout.html"}]}
SWEEP_DTYPES = ("float16", "bfloat16", None, "float64")  # None: no dtype key, i.e. float32
SWEEP_SHAPES = ([4096], [16, 16, 16], [8, 8, 8, 8])  # ranks 1, 3, 4
SWEEP_PS = (0.0009765625, 0.5, 0.9)
SWEEP_VALUES = ("nan", "inf", "neg_zero")


def sweep_record(spec: str, op: str, mode: str, params: dict[str, Any], status: str,
                 message: str = "ok") -> dict[str, Any]:
    """A result entry whose id spells its params, as the engine's ids do."""
    words = [f"{k}{'x'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items()]
    test_id = f"{spec}[torch-cpu-{mode}-{'-'.join(words)}]"
    expected = {"outcome": "diverges", "reason": "PyTorch multiplies by the mask"} \
        if status == "expected-divergence" else {"outcome": "conforms"}
    return Result(id=test_id, spec=spec, behavior=(SPECS.get(spec) or SWEEP_SPEC)["behavior"], op=op,
                  framework="torch", device="cpu", mode=mode, params=params, status=Status(status),
                  expected=expected, observed={}, message=message, p_value=0.5, n=4096, min_detectable=0.02,
                  false_alarm=1e-9, seed=7, reproduce=f"python -m conformance run --spec '{test_id}'").to_json()


def _scaling_status(mode: str, dtype: str | None, rank: int, p: float) -> str:
    if mode == "eager":
        return "fail" if (dtype, p) == ("float16", 0.9) else "pass"
    if dtype == "float64":
        return "skipped"
    return "error" if (dtype, rank) == ("bfloat16", 1) else "pass"


def _scaling_params(dtype: str | None, shape: list[int], p: float, mode: str) -> dict[str, Any]:
    params: dict[str, Any] = {"shape": shape, "p": p}
    if dtype:
        params["dtype"] = dtype
    if p == 0.5:
        params["form"] = "functional"  # others take the default, module
    params["seeding"] = "explicit" if mode == "eager" else "global"
    return params


def sweep_doc() -> dict[str, Any]:
    results = [sweep_record("dropout-sweep-scaling", "dropout", mode, _scaling_params(dtype, shape, p, mode),
                            _scaling_status(mode, dtype, len(shape), p))
               for mode in ("eager", "compiled") for dtype in SWEEP_DTYPES for shape in SWEEP_SHAPES
               for p in SWEEP_PS]
    for values in SWEEP_VALUES:
        for dtype in ("float16", None):
            params = {"shape": [2, 4, 3, 3], "p": 0.5, "values": values} | ({"dtype": dtype} if dtype else {})
            results.append(sweep_record("dropout2d-non-finite", "dropout2d", "eager", params,
                                        "expected-divergence" if values == "nan" else "pass"))
    doc = document("torch", "2.13.0", results, salt="sweep")
    compiled = dict(doc["run"]["targets"][0], mode="compiled")
    doc["run"]["targets"].append(compiled)
    doc["specs"]["dropout-sweep-scaling"] = copy.deepcopy(SWEEP_SPEC)
    return doc
