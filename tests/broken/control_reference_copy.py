"""Control, not broken: the reference function under another name, as a third party would ship it.

It has no expectations of its own in the specs, so it is held to the reference's
(`expectations_from="reference"`, function_adapter's default), including the reference's
documented divergences on input rank and layout. The suite must pass it.
"""
from __future__ import annotations

from adapters.reference import reference_dropout2d, reference_dropout2d_grad
from conformance.function_adapter import function_adapter

adapter = function_adapter(reference_dropout2d, name="thirdparty-copy", grad_fn=reference_dropout2d_grad)
