"""The bundled Kronos model has the real Kronos's structure (attention biases, RMSNorm eps 1e-5,
the tokenizer's n - 1 blocks) and loads a real Kronos state dict: with the real weights copied
over it computes the real code's logits (within 1e-5) and tokens.

The real code is kronos-finance 0.1.5's vendored Kronos (requirements/kronos.txt); without it
these tests fail rather than skip.
"""

from __future__ import annotations

import pytest
import torch

from kronos_finance._vendor.kronos_model import kronos as K
from migrator.errors import BadInputError
from migrator.forecast.kronos.model import build_kronos
from migrator.runtime.kronos_bench import random_kronos


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("shape", ["tiny", "mini"])
def test_real_weights_give_the_real_logits(shape, tmp_path):
    real, tokenizer = random_kronos(K, shape, seed=3, random_biases=True)  # biases matter
    path = tmp_path / "kronos.pt"
    torch.save({"model": real.state_dict(), "tokenizer": tokenizer.state_dict()}, path)
    ours = build_kronos(shape, checkpoint=path)

    generator = torch.Generator().manual_seed(0)
    bars = torch.randn(3, 40, 6, generator=generator)
    with torch.no_grad():
        real_s1, real_s2 = tokenizer.encode(bars, half=True)
        s1, s2 = ours.tokenizer.encode(bars)
        assert torch.equal(s1, real_s1) and torch.equal(s2, real_s2)
        real_z = tokenizer.decode([s1, s2], half=True)
        assert _rel(ours.tokenizer.decode(s1, s2), real_z) < 1e-5

        days = torch.arange(40)
        stamps = torch.stack([days * 0, days * 0, days % 7, days % 28 + 1, days // 28 % 12 + 1], -1)[None].repeat(3, 1, 1)
        real_logits, real_context = real.decode_s1(s1, s2, stamps.float())
        logits, hidden = ours.predictor.decode_s1(s1, s2, stamps)
        assert _rel(logits, real_logits) < 1e-5
        sibling = torch.tensor([[5], [700], [1023]])
        assert _rel(ours.predictor.decode_s2(hidden, sibling), real.decode_s2(real_context, sibling)) < 1e-5


def test_the_structure_is_the_real_one():
    ours = build_kronos("mini")
    block = ours.predictor.blocks[0]
    assert all(getattr(block, name).bias is not None for name in ("q", "k", "v", "out"))
    assert all(getattr(ours.predictor.dep, name).bias is not None for name in ("q", "k", "v", "out"))
    assert block.norm1.eps == ours.predictor.norm.eps == ours.predictor.dep.norm.eps == 1e-5
    _, tokenizer = random_kronos(K, "mini")
    assert len(ours.tokenizer.encoder) == len(tokenizer.encoder) == 3
    assert len(ours.tokenizer.decoder) == len(tokenizer.decoder) == 3


def test_a_real_checkpoint_of_another_shape_is_refused_naming_the_file(tmp_path):
    real, tokenizer = random_kronos(K, "tiny")
    path = tmp_path / "kronos.pt"
    torch.save({"model": real.state_dict(), "tokenizer": tokenizer.state_dict()}, path)
    with pytest.raises(BadInputError, match="kronos.pt"):
        build_kronos("mini", checkpoint=path)
