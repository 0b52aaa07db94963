"""Finding adapters (built-in frameworks or third-party references) and their execution targets."""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path

from .api import MODES, Adapter, Device
from .runner import Target


class UsageError(Exception):
    """Bad command-line input: exit code 2."""


class Unavailable(Exception):
    """A known framework that cannot run here: not installed, or missing what it needs (a compiler,
    Node.js). Reported as skipped, with the install command."""

    def __init__(self, name: str, install: str, detail: str):
        super().__init__(f"{name} is unavailable here ({detail}); install it with: {install}")
        self.name, self.install = name, install


def known_frameworks() -> dict[str, tuple[str, str]]:
    from adapters import FRAMEWORKS
    return FRAMEWORKS


def _instantiate(obj: object, ref: str) -> Adapter:
    if inspect.isclass(obj) and issubclass(obj, Adapter):
        obj = obj()
    elif callable(obj) and not isinstance(obj, Adapter):
        obj = obj()
    if not isinstance(obj, Adapter):
        raise UsageError(f"--adapter {ref}: {type(obj).__name__} is not a conformance Adapter "
                         "(use conformance.function_adapter(fn) or subclass conformance.api.Adapter)")
    return obj


def _load_module_from_path(path: Path, ref: str):
    if not path.is_file():
        raise UsageError(f"--adapter {ref}: no such file {path}")
    name = f"conformance_user_adapter_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise UsageError(f"--adapter {ref}: importing {path} failed: {type(exc).__name__}: {exc}") from exc
    return module


def _is_path(where: str) -> bool:
    return where.endswith(".py") or "/" in where


def check_adapter_ref(ref: str) -> tuple[str, str]:
    """(module or PATH.py, attribute) of an --adapter reference, or UsageError saying what is wrong."""
    where, colon, attr = ref.rpartition(":")
    if not colon or not where or not attr.isidentifier():
        raise UsageError(f"--adapter {ref!r}: expected PATH.py:NAME or package.module:NAME (NAME a Python identifier)")
    if _is_path(where):
        try:
            found = Path(where).is_file()
        except (OSError, ValueError):  # a name too long, an embedded NUL
            found = False
        if not found:
            raise UsageError(f"--adapter {ref}: no such file {where}")
    elif not all(part.isidentifier() for part in where.split(".")):
        raise UsageError(f"--adapter {ref!r}: {where!r} is neither a .py file nor a dotted module name")
    return where, attr


def load_adapter(ref: str) -> Adapter:
    """A framework name (torch, mlx, jax, reference) or PATH.py:NAME or package.module:NAME."""
    frameworks = known_frameworks()
    if ":" not in ref:
        if ref not in frameworks:
            raise UsageError(f"unknown framework {ref!r}; known: {', '.join(frameworks)} "
                             "(or plug one in with --adapter PATH.py:NAME)")
        module_name, install = frameworks[ref]
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise Unavailable(ref, install, str(exc)) from exc
        return module.make_adapter()
    where, attr = check_adapter_ref(ref)
    if _is_path(where):
        module = _load_module_from_path(Path(where), ref)
    else:
        try:
            module = importlib.import_module(where)
        except ImportError as exc:
            raise UsageError(f"--adapter {ref}: cannot import {where}: {exc}") from exc
    if not hasattr(module, attr):
        raise UsageError(f"--adapter {ref}: {where} has no attribute {attr!r}")
    return _instantiate(getattr(module, attr), ref)


# An adapter's name and device labels name files, test ids and command lines: keep them plain.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}")


def check_names(adapter: Adapter, ref: str, devices: list[Device]) -> None:
    """UsageError unless the adapter's name and device labels are plain names."""
    named = [("name", adapter.name)] + [("device label", d.label) for d in devices]
    for what, value in named:
        if not isinstance(value, str) or not _PLAIN_NAME.fullmatch(value):
            raise UsageError(f"{ref}: adapter {what} {value!r} is not a plain name (1 to 64 letters, digits "
                             "or . _ + -, starting with a letter or digit); it names files and test ids")


def targets_for(adapter: Adapter, ref: str, device: str = "all", mode: str = "all") -> list[Target]:
    devices = adapter.devices()
    check_names(adapter, ref, devices)
    if device != "all":
        chosen = [d for d in devices if device in (d.label, d.kind)]
        if not chosen:
            raise UsageError(f"{adapter.name} has no device {device!r} here; "
                             f"available: {', '.join(d.label for d in devices)}")
        devices = chosen
    modes = adapter.modes()
    if mode != "all":
        if mode not in MODES:
            raise UsageError(f"unknown mode {mode!r}; known: {', '.join(MODES)}")
        modes = tuple(m for m in modes if m == mode)
    return [Target(adapter, ref, d, m) for d in devices for m in modes]
