"""Where the suite finds its data and keeps its caches, from a checkout or from an installed wheel.

A checkout keeps specs/ and expectations/ at its root. The wheel ships the same files inside the package
(conformance/data/, mapped from those folders by pyproject.toml), so `pip install dropout-conformance`
works from any directory without a clone.
"""
from __future__ import annotations

import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
SHIPPED = PACKAGE / "data"  # present only in an installed wheel
CHECKOUT = PACKAGE.parent   # the repository root, when running from a clone or an editable install
INSTALLED = (SHIPPED / "specs").is_dir()

SPECS_DIR = SHIPPED / "specs" if INSTALLED else CHECKOUT / "specs"
EXPECTATIONS_DIR = SHIPPED / "expectations" if INSTALLED else CHECKOUT / "expectations"


def default_cache_dir() -> Path:
    """build/cache in a checkout (CI can keep it between runs); the user's cache folder for a wheel, never
    site-packages."""
    if not INSTALLED:
        return CHECKOUT / "build" / "cache"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dropout-conformance"
