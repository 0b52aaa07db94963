"""What each check accepts: the parameter schema of one case (every key but `op`).

A spec is typed against its check's schema when it loads, grid values included, so a value of the
wrong type (`p: ["half"]`) is a load error naming the file, spec and field rather than a TypeError
at run time. Strict: a string is never read as a number, nor a boolean as an integer; the values
themselves are passed on unchanged.
"""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..api import SEEDING_PATHS
from ..arrays import FLOAT_DTYPES, INT_DTYPES

FloatDtype = Literal[FLOAT_DTYPES]  # type: ignore[valid-type]
AnyDtype = Literal[FLOAT_DTYPES + INT_DTYPES]  # type: ignore[valid-type]
Size = Annotated[int, Field(ge=1, le=2**31)]
Shape = Annotated[list[Annotated[int, Field(ge=0, le=2**31)]], Field(min_length=0, max_length=8)]  # empty tensors too
Axes = Annotated[list[Annotated[int, Field(ge=-8, le=7)]], Field(max_length=8)]
# Dropout rescales kept values by 1/(1-p), so a random-mask check needs p < 1; p = 1 is an edge
# with its own checks (all-zero), and only p-validation feeds values outside [0, 1].
Rate = Annotated[float, Field(ge=0.0, lt=1.0)]
EdgeRate = Annotated[float, Field(ge=0.0, le=1.0)]


class CheckParams(BaseModel):
    """Keys every check may take; a check's own schema adds or narrows."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    form: Literal["module", "functional"] = "module"
    seeding: Literal[SEEDING_PATHS] | None = None  # type: ignore[valid-type]  # None: the adapter's usual path


class ShapedParams(CheckParams):
    """One call on a tensor of `shape`."""

    shape: Shape
    p: Rate
    dtype: FloatDtype = "float32"


class OptionalRateParams(ShapedParams):
    p: Rate = 0.5


class EdgeParams(ShapedParams):
    p: EdgeRate


class IdentityParams(EdgeParams):
    training: bool = False


class RaisesParams(ShapedParams):
    p: float  # any value: the check feeds invalid rates on purpose
    errors: Annotated[list[Annotated[str, Field(min_length=1, max_length=100)]], Field(min_length=1)] = ["ValueError"]


class DtypeParams(ShapedParams):
    dtype: AnyDtype


class MaskAxesParams(OptionalRateParams):
    claim_axes: Axes | None = None  # null: the claim is that this rank is rejected
    channel_axis: Annotated[int, Field(ge=-8, le=7)] = 1
    rank: Annotated[int, Field(ge=1, le=8)] | None = None
    native: bool = False


class ChannelDrawParams(CheckParams):
    """Channel decisions drawn from one call of shape (n/channels, channels, *spatial)."""

    p: Rate
    channels: Size = 64
    spatial: Annotated[list[Size], Field(max_length=6)] = [2, 2]
    dtype: FloatDtype = "float32"


class DropRateParams(ChannelDrawParams):
    min_decisions: Annotated[int, Field(ge=0, le=2**28)] = 0


class PairsParams(ChannelDrawParams):
    pairs: Annotated[int, Field(ge=1, le=2**24)] = 2**17


class IndependenceParams(PairsParams):
    axis: Literal["batch", "channel", "calls"]


class HomogeneityParams(CheckParams):
    p: Rate
    axis: Literal["batch", "channel"]
    positions: Annotated[int, Field(ge=2, le=4096)]
    position_delta: Annotated[float, Field(gt=0.0, lt=1.0)]


class CollisionParams(CheckParams):
    p: Rate
    seeds: Annotated[int, Field(ge=2, le=1024)]
    decisions: Annotated[int, Field(ge=1, le=2**24)]
    window: Annotated[int, Field(ge=1, le=4096)]


class AlphaMaskAxesParams(OptionalRateParams):
    claim_axes: Axes


SpecialValues = Literal["finite", "nan", "inf", "neg_inf", "neg_zero", "subnormal", "near_max"]


# The drop-rate error a test is sized to catch, as a multiple of stats.rate_delta(p) (power 0.999 at ALPHA).
DeltaFactor = Annotated[float, Field(ge=1.0, le=100.0)]


class InputValuesParams(CheckParams):
    """One call on a constant input of a kind of value, at any p in [0, 1]."""

    p: EdgeRate
    dtype: FloatDtype = "float32"
    values: SpecialValues = "finite"
    # Also size the call for the rate test (one position per channel): None, just enough units to see both outcomes.
    delta_factor: DeltaFactor | None = None
    # Judge the drop rate alone: a unit is dropped when it holds the dropped value, and kept values are
    # left to the checks about them (a drop-rate spec then fails for a wrong rate only).
    rate_only: bool = False


class UnbiasednessParams(CheckParams):
    p: Annotated[float, Field(gt=0.0, lt=1.0)]
    dtype: FloatDtype = "float32"
    delta_factor: DeltaFactor = 1.0


class RankParams(CheckParams):
    """The op at input rank `rank`: its batched rank, its unbatched one (rank - 1), or any other."""

    rank: Annotated[int, Field(ge=1, le=6)]
    p: Rate = 0.5


class EdgeGradientParams(CheckParams):
    p: Literal[0.0, 1.0]
    dtype: FloatDtype = "float32"
    values: SpecialValues = "finite"
