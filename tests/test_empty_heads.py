"""The empty-heads probe (python -m bmp.bench empty_heads): learned block masks against the same blocks shuffled,
on tiny BERTs whose masks are set by hand, so the right counts are known."""
import json

import pytest
import torch

from bmp.bench.empty_heads import block_grid, compare, empty_heads, shuffled
from bmp.models import tiny_bert
from bmp.packing.pack import pack
from bmp.pruning.anatomy import encoder_layers
from bmp.pruning.granularity import preset
from bmp.pruning.masked import add_masks, baked_copy, score_parameters, set_threshold

BLOCK = (16, 16)  # a head of the tiny BERT is 16 wide: one block column of the output per head


def masked(keep_out_heads=(), seed=0):
    """A tiny hybrid-masked BERT (threshold 0.5) whose attention-output blocks are dropped for every head not in
    ``keep_out_heads`` of layer 0, and everything else kept."""
    model = add_masks(tiny_bert(seed), preset("hybrid", attention=BLOCK))
    with torch.no_grad():
        for _, scores in score_parameters(model):
            scores.fill_(5.0)  # sigmoid ~ 0.99: kept
        out = encoder_layers(model)[0].attn_out.scores  # (hidden / 16, heads * 16 / 16) = (4, 4): column = head
        for head in range(out.shape[1]):
            if head not in keep_out_heads:
                out[:, head] = -5.0
    set_threshold(model, 0.5)
    return model


def test_shuffling_moves_blocks_and_keeps_how_many_each_matrix_keeps():
    generator = torch.Generator().manual_seed(0)
    grid = torch.zeros(4, 4, dtype=torch.bool)
    grid[:, 0] = True
    mask = grid.repeat_interleave(16, 0).repeat_interleave(16, 1)
    draws = [shuffled(mask, BLOCK, generator) for _ in range(20)]
    assert all(int(d.sum()) == int(mask.sum()) and torch.equal(d, block_grid(d, BLOCK).repeat_interleave(16, 0)
                                                                .repeat_interleave(16, 1)) for d in draws)
    assert any(not torch.equal(d, mask) for d in draws)


def test_learned_empty_heads_are_counted_as_packing_removes_them():
    model = masked(keep_out_heads=(1,))  # layer 0 keeps one head's output columns: three heads are empty
    part = encoder_layers(model)[0]
    assert empty_heads(part.value.mask(), part.attn_out.mask(), part.head_dim) == 3
    assert list(pack(model).config.heads_per_layer) == [1, 4]  # the same three are what packing removes
    result = compare(baked_copy(model), BLOCK, shuffles=50)  # read from the baked weights, as a saved run holds them
    assert result["heads"] == 8 and result["learned_empty"] == 3
    assert result["learned_empty_share"] == pytest.approx(3 / 8)
    # the same 4 of 16 output blocks kept at random: a head is empty only when its whole column is dropped
    assert result["random_empty_share"] < result["learned_empty_share"]
    low, high = result["random_empty_share_range"]
    assert 0 <= low <= result["random_empty_share"] <= high <= 1


def test_head_pruned_runs_and_untiled_blocks_are_refused_naming_the_fix(tmp_path):
    from bmp.bench.empty_heads import pruned_block
    from bmp.pruning.masked import save_masked

    save_masked(add_masks(tiny_bert(0), preset("struct")), preset("struct"), tmp_path)
    with pytest.raises(ValueError, match="use a block or hybrid run"):
        pruned_block(tmp_path)
    with pytest.raises(ValueError, match="not tiled by"):
        compare(tiny_bert(0), (24, 24), shuffles=2)


def test_the_bench_records_one_file_per_run(tmp_path, monkeypatch):
    from bmp.bench.__main__ import main
    from bmp.course.tiny_run import make_tiny_run

    monkeypatch.setenv("BMP_RESULTS_DIR", str(tmp_path / "results"))
    run = make_tiny_run(tmp_path / "tiny")
    assert main(["empty_heads", "--run", str(run.run), "--shuffles", "5", "--record"]) == 0
    record = json.loads((tmp_path / "results" / "empty-heads__pruned.json").read_text())
    assert record["kind"] == "empty-heads" and record["metrics"]["shuffles"] == 5
    assert record["config"]["pruning"]["attention"] == [16, 16]
    assert main(["empty_heads", "--run", str(tmp_path / "nothing")]) == 2  # error: ..., no traceback
