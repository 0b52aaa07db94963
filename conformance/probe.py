"""`python -m conformance.probe REF [--device D] [--mode M]`: list an adapter's execution targets as JSON.

Run in a subprocess by the CLI so that importing a framework (or its crash) never touches the
parent process.
"""
from __future__ import annotations

import argparse
import json
import sys

from .targets import Unavailable, UsageError, load_adapter, targets_for


def probe(ref: str, device: str, mode: str) -> dict:
    try:
        adapter = load_adapter(ref)
    except Unavailable as exc:
        return {"unavailable": {"framework": exc.name, "install": exc.install, "message": str(exc)}}
    found = targets_for(adapter, ref, device, mode)
    if not found:
        return {"unavailable": {"framework": adapter.name, "install": "",
                                "message": f"{adapter.name} offers no {mode} mode here"}}
    return {"targets": [t.record() for t in found]}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m conformance.probe")
    parser.add_argument("ref")
    parser.add_argument("--device", default="all")
    parser.add_argument("--mode", default="all")
    args = parser.parse_args()
    try:
        print(json.dumps(probe(args.ref, args.device, args.mode)))
    except UsageError as exc:
        print(json.dumps({"usage_error": str(exc)}))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
