"""RESULTS.md's marked blocks: each command rewrites only its own, a full rewrite keeps them all."""

from __future__ import annotations

from pathlib import Path

from encoders.fewshot import write_section as write_fewshot_section
from encoders.results_md import FEWSHOT_BLOCK, SPSWHAR_BLOCK, keep_blocks
from encoders.spswhar_eval import write_section as write_spswhar_section


def test_each_block_is_replaced_in_place_and_survives_a_main_rewrite(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results: UTD-MHAD\n\nold table\n", encoding="utf-8")
    write_spswhar_section(path, "## sp-sw-har\n\nfirst\n")
    write_fewshot_section(path, "## few-shot\n\nk=1\n")
    write_spswhar_section(path, "## sp-sw-har\n\nsecond\n")
    text = path.read_text(encoding="utf-8")
    assert text.count(SPSWHAR_BLOCK.start) == 1 and text.count(FEWSHOT_BLOCK.start) == 1
    assert "second" in text and "first" not in text and "old table" in text and "k=1" in text
    # the sp-sw-har block stays before the few-shot block: replaced where it was, not appended
    assert text.index(SPSWHAR_BLOCK.start) < text.index(FEWSHOT_BLOCK.start)

    regenerated = keep_blocks(text, "# Results: UTD-MHAD\n\nnew table\n")
    assert "new table" in regenerated and "old table" not in regenerated
    assert SPSWHAR_BLOCK.find(regenerated) == SPSWHAR_BLOCK.find(text)
    assert FEWSHOT_BLOCK.find(regenerated) == FEWSHOT_BLOCK.find(text)


def test_the_repository_page_has_every_block_once() -> None:
    from encoders.results_md import BLOCKS, RESULTS_MD

    text = RESULTS_MD.read_text(encoding="utf-8")
    for block in BLOCKS:
        assert text.count(block.start) == 1 and text.count(block.end) == 1, block
