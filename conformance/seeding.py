"""Seeds: derived from a run salt and the test id, so any result can be replayed exactly.

The salt is printed in the run header and stored in results.json; `--salt S` or the
environment variable CONFORMANCE_SALT replays it.
"""
from __future__ import annotations

import hashlib
import os
import secrets

SALT_ENV = "CONFORMANCE_SALT"


def new_salt() -> str:
    return secrets.token_hex(4)


def run_salt(explicit: str | None = None) -> str:
    return explicit or os.environ.get(SALT_ENV) or new_salt()


def derive_seed(salt: str, test_id: str) -> int:
    """31-bit seed: frameworks alias larger seeds (torch.manual_seed(2**32 + 5) == seed 5)."""
    digest = hashlib.blake2b(f"{salt}\0{test_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") % 2**31
