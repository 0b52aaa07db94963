"""Broken: drops at rate p + 0.002 (a small safety margin in the threshold).

Like a kernel that compares its uniforms against p plus a tiny epsilon meant to absorb float
rounding. The edges p = 0 and p = 1 are short-cut and stay exact, so only a drop-rate test with
the power to resolve 0.002 sees it: the suite sizes that test to catch an error of 0.002 with
power 0.999 (at p = 0.999 the threshold passes 1 and every channel drops).
Breaks: drop-rate only.
"""
from __future__ import annotations

from conformance.function_adapter import function_adapter
from tests.broken.rate_plus_001 import with_margin

adapter = function_adapter(with_margin(0.002), name="broken-rate-plus-0002")
