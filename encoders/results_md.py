"""encoders/RESULTS.md: where it is, and the marked blocks that commands own inside it.

``results`` regenerates the whole page; ``spswhar`` and ``few-shot-eval`` each rewrite only
their own block between two HTML comments. Every block is defined here once, so a rewrite of
the page carries all of them over (:func:`keep_blocks`) instead of only the ones its author
remembered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


@dataclass(frozen=True)
class MarkedBlock:
    """A block of RESULTS.md between a start and an end marker (both included)."""

    start: str
    end: str

    def _pattern(self) -> re.Pattern[str]:
        return re.compile(re.escape(self.start) + r".*?" + re.escape(self.end) + r"\n?", re.DOTALL)

    def wrap(self, body: str) -> str:
        """``body`` between the markers, as it is stored in the page."""
        return f"{self.start}\n{body.strip(chr(10))}\n{self.end}\n"

    def find(self, text: str) -> str | None:
        """The whole block (markers included) in ``text``, or None."""
        match = self._pattern().search(text)
        return match.group(0) if match else None

    def put(self, text: str, block: str) -> str:
        """``text`` with this block replaced by ``block`` (appended when absent)."""
        pattern = self._pattern()
        if pattern.search(text):
            return pattern.sub(lambda _: block, text, count=1)
        return text.rstrip("\n") + "\n\n" + block if text.strip() else block


#: written by ``python3 -m encoders spswhar`` (encoders/spswhar_eval.py)
SPSWHAR_BLOCK = MarkedBlock("<!-- spswhar:start -->", "<!-- spswhar:end -->")
#: written by ``python3 -m encoders few-shot-eval`` (encoders/fewshot.py)
FEWSHOT_BLOCK = MarkedBlock("<!-- fewshot:begin -->", "<!-- fewshot:end -->")
#: written by ``python3 -m encoders stream-decide`` (encoders/stream_decide.py)
STREAM_DECIDE_BLOCK = MarkedBlock("<!-- stream-decide:start -->", "<!-- stream-decide:end -->")
#: written by ``python3 -m encoders virtual-imu`` (encoders/virtual_pretrain.py)
VIRTUAL_IMU_BLOCK = MarkedBlock("<!-- virtual-imu:start -->", "<!-- virtual-imu:end -->")
#: written by ``python3 -m encoders idea-rows`` (encoders/idea_rows.py)
IDEAS_BLOCK = MarkedBlock("<!-- idea-rows:start -->", "<!-- idea-rows:end -->")
BLOCKS = (SPSWHAR_BLOCK, FEWSHOT_BLOCK, STREAM_DECIDE_BLOCK, VIRTUAL_IMU_BLOCK, IDEAS_BLOCK)


def keep_blocks(old_text: str, new_text: str) -> str:
    """``new_text`` (a regenerated page) with every marked block of ``old_text`` carried over."""
    for block in BLOCKS:
        found = block.find(old_text)
        if found is not None:
            new_text = block.put(new_text, found)
    return new_text


def write_block(path: Path, block: MarkedBlock, body: str) -> None:
    """Rewrite only ``block`` of the page at ``path`` (created when missing)."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    path.write_text(block.put(old, block.wrap(body)), encoding="utf-8")
