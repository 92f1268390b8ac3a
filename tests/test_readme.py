"""Every Python snippet in README.md runs as written: the blocks of one section run in order in
one namespace, as a reader would paste them into a fresh notebook, offline."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).parent.parent / "README.md"


def sections() -> dict[str, list[tuple[int, str]]]:
    """{section heading: [(line number, code), ...]} for every ```python block."""
    found: dict[str, list[tuple[int, str]]] = {}
    heading, block, start = "(top)", None, 0
    for number, line in enumerate(README.read_text().splitlines(), 1):
        if block is None and line.startswith("## "):
            heading = line[3:].strip()
        elif block is None and re.fullmatch(r"```python\s*", line):
            block, start = [], number + 1
        elif block is not None and line.startswith("```"):
            found.setdefault(heading, []).append((start, "\n".join(block)))
            block = None
        elif block is not None:
            block.append(line)
    return found


SECTIONS = sections()


def test_the_readme_has_snippets_in_each_widget_section():
    for name in ("Your own model", "SimilarityOverlay", "TransformSweep", "ChannelGrid", "PathMorph",
                 "AttributionExplorer", "OcclusionExplorer"):
        assert name in SECTIONS, f"no Python snippet under '## {name}'"


@pytest.mark.parametrize("heading", list(SECTIONS))
def test_snippets_run_as_written(heading, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    namespace: dict = {"__name__": "__readme__"}
    for line, code in SECTIONS[heading]:
        exec(compile(code, f"README.md:{line}", "exec"), namespace)
