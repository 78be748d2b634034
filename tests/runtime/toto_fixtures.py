"""Randomly initialised toto-ts models and inputs for the conformance tests and benchmarks."""

from __future__ import annotations

import torch

BASE_CONFIG = dict(  # Toto-Open-Base-1.0's config.json (151M parameters)
    patch_size=64,
    stride=64,
    embed_dim=768,
    num_layers=12,
    num_heads=12,
    mlp_hidden_dim=3072,
    dropout=0.1,
    spacewise_every_n_layers=12,
    scaler_cls="<class 'model.scaler.CausalPatchStdMeanScaler'>",
    output_distribution_classes=["<class 'model.distribution.MixtureOfStudentTsOutput'>"],
    output_distribution_kwargs={"k_components": 24},
    spacewise_first=True,
    use_memory_efficient_attention=False,  # no xformers on CPU
    stabilize_with_global=True,
    scale_factor_exponent=10.0,
)

# Same architecture, small enough for CI: 4 layers (one space-wise), 8 mixture components.
SMALL_CONFIG = dict(BASE_CONFIG, embed_dim=64, num_layers=4, num_heads=4, mlp_hidden_dim=128,
                    spacewise_every_n_layers=4, output_distribution_kwargs={"k_components": 8})


def make_backbone(config: dict, seed: int = 0) -> torch.nn.Module:
    """A seeded random Toto backbone (what upstream passes: TotoForecaster(model.model))."""
    from toto.model.toto import Toto

    torch.manual_seed(seed)
    model = Toto(**config)
    model.eval()
    return model.model


def masked(series: torch.Tensor):
    """A MaskedTimeseries the way upstream's TotoPipeline builds one (all observed, one id)."""
    from toto.data.util.dataset import MaskedTimeseries

    return MaskedTimeseries(
        series=series,
        padding_mask=torch.ones_like(series, dtype=torch.bool),
        id_mask=torch.zeros_like(series, dtype=torch.int),
        timestamp_seconds=torch.zeros_like(series, dtype=torch.int),
        time_interval_seconds=torch.full(series.shape[:-1], 86400, dtype=torch.int),
    )


def random_walk_returns(length: int, seed: int) -> torch.Tensor:
    """Percent-change-like daily returns, float32, the shape of the backtest's contexts."""
    g = torch.Generator().manual_seed(seed)
    return (0.01 * torch.randn(length, generator=g)).to(torch.float32)
