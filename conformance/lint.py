"""`python -m conformance lint`: problems in the specs and expectation files that no run reports.

Kinds of problem (each a `Problem` naming the file and the entry or spec at fault):
- unmatched: an expectation entry whose spec pattern names no spec, or whose `when:` fits no
  case of the specs it names (op and params are checked; device, mode and version can't be);
- duplicate-reason: the same reason text in two entries (write it once: one entry, several matches);
- issue-without-link: a reason or porting advice that cites an upstream issue or PR but has no `issue:` link;
- source-without-quote: a spec source without the quote that supports the claim;
- malformed: a spec or expectation file that does not load.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path

from .expectations import EXPECTATIONS_DIR, ExpectationFile, ExpectationFileError, display_path, read_directory, \
    read_file, resolve, rules_of
from .spec import SPECS_DIR, Spec, load_all

KINDS = ("unmatched", "duplicate-reason", "issue-without-link", "source-without-quote", "malformed")
# An upstream issue cited in prose: a GitHub issue/PR URL, owner/repo#123, or "issue 123" / "#123".
_CITES_ISSUE = re.compile(r"/(issues|pull)/\d+|\b[\w.-]+/[\w.-]+#\d+|\b(issue|PR|pull request)\s*#?\d+|(^|\s)#\d+\b",
                          re.IGNORECASE)


@dataclass(frozen=True)
class Problem:
    kind: str
    where: str  # file, with the entry or spec
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.message}"


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def lint_sources(specs: list[Spec], spec_files: dict[str, str]) -> list[Problem]:
    return [Problem("source-without-quote", f"{spec_files.get(s.id, '?')}: spec {s.id!r}",
                    f"source {src.name!r} has no quote")
            for s in specs for src in s.sources if not (src.quote or "").strip()]


def _entry_where(path: Path, index: int) -> str:
    return f"{display_path(path)}: expectations[{index}]"


def lint_reasons(files: list[tuple[Path, ExpectationFile]]) -> list[Problem]:
    problems, first_seen = [], {}
    for path, parsed in files:
        for i, entry in enumerate(parsed.expectations):
            where = _entry_where(path, i)
            advice = " ".join(filter(None, (entry.porting.to, entry.porting.from_))) if entry.porting else ""
            if _CITES_ISSUE.search(advice) and not entry.issue:
                problems.append(Problem("issue-without-link", where,
                                        "the porting advice cites an upstream issue; give its URL as 'issue:'"))
            if not entry.reason:
                continue
            if _CITES_ISSUE.search(entry.reason) and not entry.issue:
                problems.append(Problem("issue-without-link", where,
                                        "the reason cites an upstream issue; give its URL as 'issue:'"))
            key = _normalised(entry.reason)
            if key in first_seen:
                problems.append(Problem("duplicate-reason", where,
                                        f"same reason as {first_seen[key]}: write it once, with several 'matches'"))
            else:
                first_seen[key] = where
    return problems


def lint_matches(files: list[tuple[Path, ExpectationFile]], specs: list[Spec]) -> list[Problem]:
    cases = {s.id: s.op_cases for s in specs}
    problems = []
    for path, parsed in files:
        for rule in rules_of(parsed, path, framework=None):
            named = [sid for sid in cases if fnmatch.fnmatchcase(sid, rule.spec)]
            where = f"{display_path(path)}: {rule.key.rsplit('#', 1)[1]} ({rule.spec})"
            if not named:
                problems.append(Problem("unmatched", where, f"spec pattern {rule.spec!r} names no spec"))
            elif rule.when is not None and not any(rule.when.could_match(op, params)
                                                   for sid in named for op, params in cases[sid]):
                problems.append(Problem("unmatched", where, "its 'when' fits no case of the specs it names"))
    return problems


def _spec_files(specs_dir: Path) -> dict[str, str]:
    from .spec import load_axes, load_file, spec_files
    axes = load_axes(specs_dir)[0]
    return {s.id: display_path(p) for p in spec_files(specs_dir) for s in load_file(p, axes)[0]}


def lint(specs_dir: Path = SPECS_DIR, expectations_dir: Path = EXPECTATIONS_DIR,
         extra_files: list[Path] = ()) -> list[Problem]:
    """Every problem found in the specs, the built-in expectation files and `extra_files`."""
    specs, errors = load_all(specs_dir)
    problems = [Problem("malformed", e.file, str(e)) for e in errors]
    files: list[tuple[Path, ExpectationFile]] = []
    try:
        shipped = read_directory(expectations_dir)
        files += list(shipped.values())
        resolve(shipped)  # inherits: missing files, cycles
    except ExpectationFileError as exc:
        problems.append(Problem("malformed", str(expectations_dir), str(exc)))
    for path in extra_files:
        try:
            files.append((path, read_file(path)))
        except ExpectationFileError as exc:
            problems.append(Problem("malformed", str(path), str(exc)))
    problems += lint_sources(specs, _spec_files(specs_dir))
    problems += lint_reasons(files)
    problems += lint_matches(files, specs)
    return problems


def lint_command(specs_dir: Path, expectations_dir: Path, extra_files: list[Path]) -> int:
    problems = lint(specs_dir, expectations_dir, extra_files)
    for problem in problems:
        print(problem)
    counts = {k: sum(p.kind == k for p in problems) for k in KINDS}
    print(f"lint: {len(problems)} problem(s)" + (": " + ", ".join(f"{n} {k}" for k, n in counts.items() if n)
                                                if problems else ""))
    return 1 if problems else 0
