"""Cross-framework dropout conformance suite: the framework-agnostic engine."""

__version__ = "0.1.0"
