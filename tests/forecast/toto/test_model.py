"""The Toto-style model: shapes, the causal scaler, causality, padding, the trimmed next-step
path, seeded init and checkpoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from migrator.errors import BadInputError
from migrator.forecast.toto.model import (
    MODEL_CONFIGS,
    TotoConfig,
    TotoModel,
    build_model,
    causal_patch_scaler,
    left_pad,
)

TINY = TotoConfig(embed_dim=32, num_layers=3, num_heads=2, mlp_dim=64, num_components=4)
# Every layer space-wise: the last layer's last-token path goes through the space-wise branch.
TINY_SPACEWISE = TotoConfig(
    embed_dim=32, num_layers=2, num_heads=2, mlp_dim=64, num_components=4, spacewise_every_n_layers=1
)


def tiny_model(config: TotoConfig = TINY, seed: int = 0) -> TotoModel:
    torch.manual_seed(seed)
    return TotoModel(config).eval()


def series(length: int, seed: int = 0) -> torch.Tensor:
    return torch.as_tensor(np.random.default_rng(seed).standard_t(4, length) * 0.01, dtype=torch.float32)


def _expected_parameters(config: TotoConfig) -> int:
    """The parameter count worked out by hand from the architecture (not read back from torch):
    per layer two RMSNorm gains, a bias-free qkv and output projection, a bias-free SwiGLU;
    the patch embedding and unembedding with biases; four biased D -> K mixture heads."""
    d, p, k, h = config.embed_dim, config.patch_size, config.num_components, config.mlp_dim
    layer = 2 * d + 3 * d * d + d * d + 3 * d * h
    return (p * d + d) + config.num_layers * layer + d + (d * d * p + d * p) + 4 * (d * k + k)


def _count(model: torch.nn.Module) -> int:
    return sum(parameter.numel() for parameter in model.parameters())


def test_named_configs_have_the_documented_sizes() -> None:
    with torch.device("meta"):
        small = TotoModel(MODEL_CONFIGS["small"])
        base = TotoModel(MODEL_CONFIGS["base"])
    assert _count(small) == _expected_parameters(MODEL_CONFIGS["small"])
    assert _count(base) == _expected_parameters(MODEL_CONFIGS["base"])
    # Toto-Open-Base-1.0 is published as 151M parameters.
    assert round(_count(base) / 1e6) == 151
    config = MODEL_CONFIGS["base"]
    assert (config.embed_dim, config.num_layers, config.num_heads, config.mlp_dim) == (768, 12, 12, 3072)
    assert config.num_components == 24 and config.patch_size == 64
    # 11 time-wise layers and 1 space-wise, as Toto-base.
    assert [layer.spacewise for layer in base.layers].count(True) == 1


def test_left_pad_pads_on_the_left_to_a_multiple_of_the_patch() -> None:
    inputs, mask = left_pad([torch.ones(70), torch.full((3,), 2.0)], 64)
    assert inputs.shape == mask.shape == (2, 128)
    assert mask[0].sum() == 70 and mask[0, -70:].all() and not mask[0, :58].any()
    assert (inputs[1, -3:] == 2).all() and (inputs[1, :-3] == 0).all()


def test_causal_scaler_matches_numpy_and_ignores_padding() -> None:
    context = series(150, seed=1)
    inputs, mask = left_pad([context], 64)  # 42 padding values, 3 patches
    mean, std = causal_patch_scaler(inputs, mask, 64, 0.1)
    values = context.double().numpy()
    for patch, end in enumerate([22, 86, 150]):  # observed values up to each patch's end
        assert mean[0, patch].item() == pytest.approx(values[:end].mean(), rel=1e-6)
        assert std[0, patch].item() == pytest.approx(np.sqrt(values[:end].var() + 0.1), rel=1e-6)


@pytest.mark.parametrize("config", [TINY, TINY_SPACEWISE], ids=["time-wise", "space-wise"])
@pytest.mark.parametrize("length", [64, 100, 129, 200])
def test_next_step_params_equal_the_full_forward(config: TotoConfig, length: int) -> None:
    model = tiny_model(config)
    inputs, mask = left_pad([series(length)], config.patch_size)
    with torch.inference_mode():
        full = model(inputs, mask)
        trimmed = model.next_step_params(inputs, mask)
    assert full.loc.shape == (1, inputs.shape[1], config.num_components)
    first_step = full.select((slice(None), -config.patch_size))
    for name in ("df", "loc", "scale", "logits"):
        torch.testing.assert_close(getattr(trimmed, name), getattr(first_step, name), rtol=1e-5, atol=1e-6)
    assert (trimmed.df > 2).all() and (trimmed.scale > 0).all()


def test_attention_is_causal_over_patches() -> None:
    model = tiny_model()
    context = series(192)
    changed = context.clone()
    changed[-10:] += 1.0  # only the last patch changes
    with torch.inference_mode():
        before = model(*left_pad([context], 64))
        after = model(*left_pad([changed], 64))
    torch.testing.assert_close(before.loc[:, :128], after.loc[:, :128])
    assert not torch.allclose(before.loc[:, 128:], after.loc[:, 128:])


def test_padding_is_attended_so_extra_padding_changes_the_forecast() -> None:
    # Why the optimized engine groups contexts by padded length.
    model = tiny_model()
    context = series(100)
    inputs, mask = left_pad([context], 64)
    padded_more = torch.cat([torch.zeros(1, 64), inputs], dim=1)
    mask_more = torch.cat([torch.zeros(1, 64, dtype=torch.bool), mask], dim=1)
    with torch.inference_mode():
        alone = model.next_step_params(inputs, mask)
        more = model.next_step_params(padded_more, mask_more)
    assert (alone.loc - more.loc).abs().max() > 1e-3


def test_mixture_sampler_draws_the_same_distribution_as_torch() -> None:
    from scipy.stats import ks_2samp

    model = tiny_model()
    with torch.inference_mode():
        params = model.next_step_params(*left_pad([series(100)], 64))
        torch.manual_seed(0)
        ours = params.sample(20_000)[:, 0]
        reference = params.distribution().sample((20_000,))[:, 0]
    assert ours.shape == (20_000,)
    assert ks_2samp(ours.numpy(), reference.numpy()).pvalue > 0.001


def test_build_model_is_seeded_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    first = build_model("small", seed=7)
    assert torch.equal(torch.rand(1), expected_next)
    again, other = build_model("small", seed=7), build_model("small", seed=8)
    weight = "layers.1.qkv.weight"
    assert torch.equal(first.state_dict()[weight], again.state_dict()[weight])
    assert not torch.equal(first.state_dict()[weight], other.state_dict()[weight])
    assert not first.training


def test_unknown_model_name_is_a_bad_input() -> None:
    with pytest.raises(BadInputError, match="unknown model 'huge'"):
        build_model("huge")


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    source = build_model("small", seed=3)
    path = tmp_path / "toto-small.pt"
    torch.save(source.state_dict(), path)
    loaded = build_model("small", seed=0, checkpoint=path)
    inputs, mask = left_pad([series(300)], 64)
    with torch.inference_mode():
        assert torch.equal(loaded.next_step_params(inputs, mask).loc, source.next_step_params(inputs, mask).loc)


def test_mismatched_checkpoint_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "tiny.pt"
    torch.save(tiny_model().state_dict(), path)
    with pytest.raises(BadInputError) as caught:
        build_model("small", checkpoint=path)
    message = str(caught.value)
    assert str(path) in message and "wrong shape" in message and "\n" not in message


def test_partial_checkpoint_reports_missing_keys(tmp_path: Path) -> None:
    state = build_model("small").state_dict()
    del state["head.df.bias"]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "partial.pt"
    torch.save(state, path)
    with pytest.raises(BadInputError, match=r"1 missing \(e.g. head.df.bias\); 1 unexpected"):
        build_model("small", checkpoint=path)


@pytest.mark.parametrize(
    "content, reason",
    [(b"not a checkpoint", "cannot read checkpoint"), (None, "cannot read checkpoint")],
    ids=["garbage", "missing"],
)
def test_unreadable_checkpoint_is_a_bad_input(tmp_path: Path, content: bytes | None, reason: str) -> None:
    path = tmp_path / "weights.pt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(BadInputError, match=reason) as caught:
        build_model("small", checkpoint=path)
    assert str(path) in str(caught.value)


def test_checkpoint_that_is_not_a_state_dict(tmp_path: Path) -> None:
    path = tmp_path / "list.pt"
    torch.save([torch.zeros(2)], path)
    with pytest.raises(BadInputError, match="not a state dict"):
        build_model("small", checkpoint=path)
