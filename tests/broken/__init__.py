"""Deliberately broken channel-dropout implementations: the suite must fail each one.

Every module is a plain NumPy function wrapped with `function_adapter`, exposed as a
module-level `adapter`, exactly as a third party would write it, so each can be run with
`python -m conformance run --adapter tests/broken/NAME.py:adapter`. Each module carries one
realistic bug on top of an otherwise correct implementation (validation, channel mask,
inverted scaling); its docstring says which behaviour the bug breaks. The table of expected
failures lives in tests/test_broken_impls.py. `control_reference_copy.py` is the control: a
correct third-party copy that must pass.
"""
