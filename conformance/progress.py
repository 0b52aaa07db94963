"""A one-line progress bar on stderr (only on a terminal): cases done / total per target."""
from __future__ import annotations

import sys


class Progress:
    def __init__(self, enabled: bool, width: int = 30):
        self.enabled, self.width = enabled, width

    def update(self, label: str, count: int, total: int | None, finished: bool = False) -> None:
        if not self.enabled:
            if finished:
                print(f"  {label}: {count}/{total or count} cases", file=sys.stderr)
            return
        if total:
            filled = int(self.width * min(count, total) / total)
            line = f"\r  {label:28} [{'#' * filled}{'.' * (self.width - filled)}] {count}/{total}"
        else:
            line = f"\r  {label:28} starting..."
        sys.stderr.write(line + ("\n" if finished else ""))
        sys.stderr.flush()
