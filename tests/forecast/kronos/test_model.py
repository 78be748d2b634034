"""The Kronos-style model: shapes, tokenizer, exact prefix attention, sampling, inputs, checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from migrator.errors import BadInputError
from migrator.forecast.data import synthetic_ohlc
from migrator.forecast.kronos.model import (KRONOS_CONFIGS, Block, KronosModel, SamplingParams, build_kronos,
                                      filter_logits, run_after_prefix, run_prefix, sample_tokens, time_stamps)
from migrator.forecast.kronos.engines import KronosWorkload, prepare_input


@pytest.mark.parametrize(("name", "millions"), [("mini", 4.1), ("small", 24.7), ("base", 102.3)])
def test_predictor_shapes_match_the_releases(name: str, millions: float) -> None:
    with torch.device("meta"):
        model = KronosModel(KRONOS_CONFIGS[name])
    predictor = sum(p.numel() for p in model.predictor.parameters())
    assert round(predictor / 1e6, 1) == millions
    tokenizer = model.tokenizer
    assert (len(tokenizer.encoder), len(tokenizer.decoder), tokenizer.config.d_model) == (3, 3, 256)


def test_tokenizer_round_trips_its_own_tokens() -> None:
    model = build_kronos("tiny", seed=1)
    bars = torch.randn(3, 20, 6)
    with torch.inference_mode():
        s1, s2 = model.tokenizer.encode(bars)
        assert s1.shape == s2.shape == (3, 20)
        assert 0 <= int(s1.min()) and int(s1.max()) < 1024 and int(s2.max()) < 1024
        assert len(set(s1.flatten().tolist())) > 10  # the bits are not constant
        decoded = model.tokenizer.decode(s1, s2)
        assert decoded.shape == (3, 20, 6)
        # Quantising twice gives the same tokens: quantized() holds exactly the signs encode() read.
        z = torch.nn.functional.normalize(model.tokenizer.quant_embed(
            _encoder_output(model, bars)), dim=-1)
        signs = torch.where(z > 0, 1.0, -1.0) / np.sqrt(20)
        assert torch.allclose(model.tokenizer.post_quant_embed(signs), model.tokenizer.quantized(s1, s2), atol=1e-6)


def _encoder_output(model: KronosModel, bars: torch.Tensor) -> torch.Tensor:
    z = model.tokenizer.embed(bars)
    for block in model.tokenizer.encoder:
        z = block(z)
    return z


def test_extend_after_a_shared_prefix_equals_the_full_causal_forward() -> None:
    torch.manual_seed(0)
    blocks = torch.nn.ModuleList(Block(32, 4, 64) for _ in range(3)).eval()
    prefix = torch.randn(1, 11, 32)
    own = torch.randn(5, 4, 32)
    with torch.inference_mode():
        full = torch.cat([prefix.expand(5, -1, -1), own], dim=1)
        for block in blocks:
            full = block(full)
        cache, out = run_prefix(blocks, prefix, need_output=True)
        extended = run_after_prefix(blocks, own, cache)
    assert torch.allclose(extended, full[:, 11:], rtol=1e-5, atol=1e-5)
    assert torch.allclose(out[0], full[0, :11], rtol=1e-5, atol=1e-5)
    # Without the output the last block stops at its keys/values; the cache is the same.
    cache_only, nothing = run_prefix(blocks, prefix, need_output=False)
    assert nothing is None and torch.equal(cache_only[-1].key, cache[-1].key)


def test_top_k_ignores_top_p_and_top_p_keeps_the_crossing_token() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = torch.isfinite(filter_logits(logits, SamplingParams(top_k=2, top_p=0.1)))
    assert kept.tolist() == [[True, True, False, False]]
    kept = torch.isfinite(filter_logits(logits, SamplingParams(top_k=0, top_p=0.7)))
    assert kept.tolist() == [[True, True, False, False]]  # 0.5 < 0.7, 0.8 crosses it: kept
    kept = torch.isfinite(filter_logits(logits, SamplingParams(top_k=0, top_p=1.0)))
    assert kept.all()
    scaled = filter_logits(logits, SamplingParams(temperature=0.5, top_p=1.0))
    assert torch.allclose(scaled, logits / 0.5)


def test_sampling_with_given_uniforms_is_the_inverse_cdf() -> None:
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(4, -1)
    uniforms = torch.tensor([0.1, 0.55, 0.85, 0.97])
    tokens = sample_tokens(logits, SamplingParams(top_p=1.0), uniforms)
    assert tokens.tolist() == [0, 1, 2, 3]
    # torch.multinomial draws the same distribution
    torch.manual_seed(0)
    many = sample_tokens(torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]])).expand(20_000, -1),
                         SamplingParams(top_p=1.0))
    frequencies = torch.bincount(many, minlength=4).double() / 20_000
    assert torch.allclose(frequencies, torch.tensor([0.5, 0.3, 0.15, 0.05], dtype=torch.float64), atol=0.015)


def test_inputs_are_z_scored_clipped_and_stamped() -> None:
    frame = synthetic_ohlc(days=120, seed=2)
    workload = KronosWorkload(sims=2, samples=4, context=40, clip=0.5)
    inputs = prepare_input(frame, 100, workload)
    assert inputs.bars.shape == (40, 6) and inputs.stamps.shape == (47, 5)
    assert float(inputs.bars.abs().max()) <= 0.5
    close = torch.as_tensor(frame.close[60:100], dtype=torch.float32)
    assert torch.allclose(inputs.mean[3], close.mean()) and torch.allclose(inputs.std[3], close.std(correction=0))
    wide = prepare_input(frame, 100, KronosWorkload(sims=2, samples=4, context=40, clip=100.0))
    assert torch.allclose(wide.bars[:, 3], (close - close.mean()) / (close.std(correction=0) + 1e-5))


def test_time_stamps() -> None:
    stamps = time_stamps(np.array(["2024-02-29T13:45", "2021-01-04"], dtype="datetime64[s]"))
    # minute, hour, weekday (Monday 0), day, month
    assert stamps.tolist() == [[45, 13, 3, 29, 2], [0, 0, 0, 4, 1]]


def test_checkpoint_round_trip_and_wrong_checkpoints(tmp_path: Path) -> None:
    model = build_kronos("tiny", seed=5)
    path = tmp_path / "kronos.pt"
    torch.save(model.state_dict(), path)
    loaded = build_kronos("tiny", seed=6, checkpoint=path)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    with pytest.raises(BadInputError, match="not a checkpoint of the Kronos-mini model"):
        build_kronos("mini", checkpoint=path)
    path.write_bytes(b"junk")
    with pytest.raises(BadInputError, match="cannot read checkpoint"):
        build_kronos("tiny", checkpoint=path)
    with pytest.raises(BadInputError, match="unknown Kronos model 'huge'"):
        build_kronos("huge")
