"""The layer-dropping baseline keeps exactly the layers it is told to."""
import pytest
import torch

from bmp.models import tiny_bert
from bmp.training.layer_drop import every_other, keep_layers


def test_keeping_every_layer_changes_nothing_and_input_is_untouched():
    model = tiny_bert(num_hidden_layers=4)
    x = torch.randint(1000, 2000, (2, 10))
    before = model(input_ids=x).start_logits
    same = keep_layers(model, [0, 1, 2, 3])
    torch.testing.assert_close(same(input_ids=x).start_logits, before, rtol=0, atol=0)
    smaller = keep_layers(model, [0, 2])
    assert len(smaller.bert.encoder.layer) == 2 and smaller.config.num_hidden_layers == 2
    assert len(model.bert.encoder.layer) == 4 and model.config.num_hidden_layers == 4
    torch.testing.assert_close(model(input_ids=x).start_logits, before, rtol=0, atol=0)
    # the kept layers are the teacher's own weights
    torch.testing.assert_close(smaller.bert.encoder.layer[1].output.dense.weight,
                               model.bert.encoder.layer[2].output.dense.weight)


def test_every_other_matches_distilbert_choice():
    assert every_other(12, 6) == [0, 2, 4, 6, 8, 10]
    assert every_other(6, 3) == [0, 2, 4]
    assert every_other(6, 2) == [0, 3]


@pytest.mark.parametrize("layers", [[], [0, 0], [7]])
def test_bad_layer_lists_are_refused(layers):
    with pytest.raises(ValueError, match="distinct indices"):
        keep_layers(tiny_bert(), layers)
