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


def document(framework: str, version: str, records: list[dict[str, Any]], salt: str = "s1",
             spec_set: str | None = "0123456789ab") -> dict[str, Any]:
    return {"run": {"format": 1, "suite_version": "0.1.0", "salt": salt, "alpha": 1e-9, "power": 0.999,
                    "delta": 0.01, "false_alarm_bound": 2e-8, "false_alarm_target": 1e-6, "python": "3.11",
                    "platform": "linux", "command": "python -m conformance run",
                    "targets": [{"framework": framework, "version": version, "device": "cpu", "device_kind": "cpu",
                                 "device_name": "x86_64", "backend": "native", "driver": None, "mode": "eager",
                                 "layout": "channels_first"}]} | ({"spec_set": spec_set} if spec_set else {}),
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


# ------------------------------------------------------------ a synthetic sweep at scale (issue 13)
# What `tox -m matrix` merges once every framework runs the coverage sweep: one document per
# framework (two modes each), the same spec grids on every target, mostly passes, with failures,
# errors and skips clustered the way real runs cluster them (a dtype a target lacks, a spec that
# fails at high p). Messages and observed dicts follow the engine's shapes: templated sentences of
# about 150 characters with the numbers of the case, so they differ from case to case.
LARGE_FRAMEWORKS = (("torch", "2.13.0"), ("jax", "0.10.2"), ("mlx", "0.32.4"), ("tensorflow", "2.21.0"),
                    ("keras-jax", "3.15.1"), ("paddle", "3.3.1"), ("tinygrad", "0.14.0"), ("onnxruntime", "1.31.1"))
LARGE_OPS = ("dropout", "dropout1d", "dropout2d", "dropout3d", "alpha_dropout", "feature_alpha_dropout")
LARGE_BEHAVIORS = ("scaling", "drop-rate", "independence", "rate-homogeneity", "non-finite", "dtype", "shape",
                   "input-rank", "seeding", "gradient", "training-flag", "edge-p")
LARGE_DTYPES = ("float16", "bfloat16", "float32", "float64")
LARGE_SHAPES = ([4096], [64, 64], [16, 16, 16], [8, 8, 8, 8], [4, 4, 4, 4, 4])
LARGE_PS = (0.0, 0.0009765625, 0.1, 0.5, 0.9, 0.999)
LARGE_VALUES = ("finite", "nan", "inf", "neg_zero", "subnormal", "near_max")
LARGE_MESSAGES = {
    "pass": ("drop rate {a:.4f} over {n} decisions (expected {p}, deviation {d:.4f} within the {e:.2g} "
             "detectable at power 0.999); exact binomial p-value {pv:.3g}, false-alarm budget 1e-09",
             "kept values scaled by {s:.5f} (expected 1/(1-p) = {b:.5f}), max relative error {e:.2g} = "
             "{k:.2f} eps of {dt}; {n} kept elements checked, none outside the bound"),
    "fail": ("drop rate {a:.4f} over {n} decisions (expected {p}): deviation {d:.4f} exceeds the {e:.2g} "
             "detectable at power 0.999; exact binomial p-value {pv:.3g} < alpha 1e-09",
             "kept values scaled by {s:.5f}, expected 1/(1-p) = {b:.5f}: max relative error {e:.2g} = "
             "{k:.2f} eps of {dt} is over the 4 eps the spec allows ({n} kept elements)"),
    "error": ("raised RuntimeError: {dt} kernel for {op} is not implemented on this backend (shape {shape}, "
              "p={p}); the adapter reported it at call {k:.0f} of {n}",),
    "skipped": ("not offered: {op} has no {dt} implementation on this target (the adapter lists float32 and "
                "float64 only; {n} decisions not drawn)",),
    "expected-divergence": ("NaN stays NaN where a channel is dropped: {k:.0f} of {n} dropped positions hold "
                            "NaN (the documentation says dropped values are zero); p={p}, {dt}",),
    "stale-expectation": ("expected a divergence (the expectation says outputs are not rescaled) but the "
                          "case conforms: scale {s:.5f} = 1/(1-p) within {e:.2g}; update the expectation",),
}


def _large_specs(n_specs: int, rng: Any) -> dict[str, dict[str, Any]]:
    specs = {}
    for k in range(n_specs):
        behavior, op = LARGE_BEHAVIORS[k % len(LARGE_BEHAVIORS)], LARGE_OPS[k % len(LARGE_OPS)]
        spec_id = f"{op.replace('_', '-')}-{behavior}-{k:02d}"
        specs[spec_id] = {"title": f"{op}: {behavior.replace('-', ' ')} holds over the sweep grid ({k})",
                          "behavior": behavior, "ops": [op],
                          "claim": f"During training, {op} zeroes each element with probability p and scales "
                                   f"the rest by 1/(1-p) ({behavior}, claim {k})",
                          "sources": [{"name": f"{LARGE_FRAMEWORKS[k % 4][0]} {op} documentation",
                                       "url": f"https://docs.example.org/{op}.html#{behavior}",
                                       "quote": "scaled by a factor of 1/(1-p)"}]}
    return specs


def _large_grid(behavior: str, size: int, rng: Any) -> list[dict[str, Any]]:
    """`size` distinct params of one spec, the same on every target."""
    grid = []
    values = LARGE_VALUES if behavior == "non-finite" else (None,)
    forms = ("module", "functional") if rng.random() < 0.5 else (None,)
    seedings = ("explicit", "global") if behavior == "seeding" or rng.random() < 0.3 else (None,)
    for dtype in LARGE_DTYPES:
        for shape in LARGE_SHAPES:
            for p in LARGE_PS:
                for form in forms:
                    for seeding in seedings:
                        for value in values:
                            params: dict[str, Any] = {"shape": shape, "p": p}
                            if dtype != "float32":
                                params["dtype"] = dtype
                            for key, v in (("form", form), ("seeding", seeding), ("values", value)):
                                if v is not None:
                                    params[key] = v
                            grid.append(params)
    rng.shuffle(grid)
    base = len(grid)
    while len(grid) < size:  # a spec bigger than its grid repeats it at other batch sizes
        grid.append(dict(grid[len(grid) % base], batch=len(grid) // base + 1))
    return grid[:size]


def _large_status(rng: Any, fw_i: int, mode: str, spec_i: int, params: dict[str, Any]) -> str:
    dtype, p = params.get("dtype", "float32"), params["p"]
    if fw_i % 3 == 1 and dtype == "float64":
        return "skipped"  # this framework has no float64 here
    if mode == "compiled" and dtype == "bfloat16" and len(params["shape"]) == 1 and fw_i % 2 == 0:
        return "error"
    if spec_i % 11 == fw_i % 11 and p >= 0.9:
        return "fail"  # a spec that breaks at high p on one framework
    if params.get("values") == "nan" and fw_i % 2 == 0:
        return "expected-divergence"
    roll = rng.random()
    return "fail" if roll < 0.01 else "error" if roll < 0.013 else "stale-expectation" if roll < 0.015 else "pass"


def _large_record(rng: Any, spec_id: str, spec: dict[str, Any], fw: str, mode: str, params: dict[str, Any],
                  status: str, salt: str) -> dict[str, Any]:
    words = [f"{k}{'x'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in params.items()]
    test_id = f"{spec_id}[{fw}-cpu-{mode}-{'-'.join(words)}]"
    p, n = params["p"], rng.choice((4096, 23078, 131072, 262144))
    a = p + rng.gauss(0, 0.003)
    b, e = 1 / (1 - p) if p < 1 else 0.0, rng.random() / 50
    numbers = {"a": a, "b": b, "s": b * (1 + e / 100), "n": n, "p": p, "d": abs(a - p), "e": e,
               "pv": rng.random(), "k": rng.random() * 4, "dt": params.get("dtype", "float32"),
               "op": spec["ops"][0], "shape": params["shape"]}
    message = rng.choice(LARGE_MESSAGES[status]).format(**numbers)
    if status == "expected-divergence":
        expected = {"outcome": "diverges", "reason": f"{fw} multiplies by the mask, so NaN * 0 stays NaN",
                    "observed": {"nan_in_dropped": True}, "source": f"expectations/{fw}.yaml#3",
                    "issue": f"https://github.com/example/{fw}/issues/{1000 + len(fw)}"}
    elif status == "stale-expectation":
        expected = {"outcome": "diverges", "reason": "outputs are not rescaled", "source": f"expectations/{fw}.yaml#7"}
    else:
        expected = {"outcome": "conforms", "source": "default"}
    statistical = spec["behavior"] in ("drop-rate", "independence", "rate-homogeneity", "seeding")
    observed = {"drop_rate": round(a, 6), "decisions": n, "ci": [round(a - 0.002, 6), round(a + 0.002, 6)]} \
        if statistical else {"scale": round(numbers["s"], 7),
                             "max_error_eps": round(numbers["k"], 3), "nan_in_dropped": status == "expected-divergence"}
    if status in ("error", "skipped"):
        observed = {"error": "RuntimeError" if status == "error" else "NotImplementedError",
                    "error_message": message[:80]}
    warnings = [f"UserWarning: {spec['ops'][0]} received a {len(params['shape'])}-D input; treating it as "
                f"(N, C, *spatial)"] if rng.random() < 0.01 else []
    incident = None
    if status == "error" and rng.random() < 0.05:
        incident = {"kind": "crash", "signal": "SIGSEGV", "exit_code": -11,
                    "lines": ["Fatal Python error: Segmentation fault",
                              f'  File "{fw}/kernels.py", line 412 in <dropout>']}
    return Result(id=test_id, spec=spec_id, behavior=spec["behavior"], op=spec["ops"][0], framework=fw, device="cpu",
                  mode=mode, params=params, status=Status(status), expected=expected, observed=observed,
                  message=message, warnings=warnings,
                  p_value=numbers["pv"] if statistical else None, n=n if statistical else None,
                  min_detectable=0.0099 * (262144 / n) ** 0.5 if statistical else None,
                  false_alarm=1e-9 if statistical else 0.0, seed=rng.randrange(2 ** 31),
                  reproduce=f"python -m conformance run --framework {fw} --device cpu --mode {mode} "
                            f"--spec '{test_id}' --salt {salt}", incident=incident).to_json()


def large_docs(cases: int = 40_000, targets: int = 12, specs: int = 70, seed: int = 13) -> list[dict[str, Any]]:
    """`cases` results over `targets` targets (two modes per framework, one document per framework) and
    `specs` specs of uneven size (a few big sweep grids, many small specs). Deterministic."""
    import random
    rng = random.Random(seed)
    catalog = _large_specs(specs, rng)
    weights = [rng.choice((1, 1, 1, 2, 3, 8, 20, 60)) for _ in catalog]
    per_target = -(-cases // targets)  # the last target runs fewer, so that the total is exact
    sizes = [max(1, round(per_target * w / sum(weights))) for w in weights]
    sizes[sizes.index(max(sizes))] += per_target - sum(sizes)  # per_target cases on every target
    grids = {spec_id: _large_grid(catalog[spec_id]["behavior"], size, rng)
             for spec_id, size in zip(catalog, sizes)}
    columns = [(fw_i, fw, version, mode) for fw_i, (fw, version) in enumerate(LARGE_FRAMEWORKS)
               for mode in ("eager", "compiled")][:targets]
    docs: dict[str, dict[str, Any]] = {}
    for fw_i, fw, version, mode in columns:
        salt = f"large-{fw}"
        if fw not in docs:
            docs[fw] = document(fw, version, [], salt=salt)
            docs[fw]["run"]["targets"] = []
            docs[fw]["specs"] = copy.deepcopy(catalog)
        target = {"framework": fw, "version": version, "device": "cpu", "device_kind": "cpu", "device_name": "x86_64",
                  "backend": "native", "driver": None, "mode": mode, "layout": "channels_first", "restarts": 0}
        docs[fw]["run"]["targets"].append(target)
        budget = min(per_target, cases - sum(len(d["results"]) for d in docs.values()))
        for spec_i, (spec_id, grid) in enumerate(grids.items()):
            for params in grid[:budget]:
                status = _large_status(rng, fw_i, mode, spec_i, params)
                docs[fw]["results"].append(
                    _large_record(rng, spec_id, catalog[spec_id], fw, mode, params, status, salt))
            budget -= min(budget, len(grid))
    return list(docs.values())
