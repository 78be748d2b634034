"""A Toto-style probabilistic forecaster for one univariate series, readable in one file.

Shape of Datadog's Toto (toto-ts 0.2.0):

- inputs are left-padded with zeros to a multiple of the patch size (64) and come with a
  padding mask (True = observed);
- a causal per-patch scaler: patch i is standardised with the mean and std of every observed
  value up to the end of patch i (padding excluded), scale = sqrt(var + 0.1);
- patch embedding (patch 64, stride 64) -> transformer layers (pre-RMSNorm, SwiGLU MLP);
  time-wise layers are causal over patches with rotary positions; padding patches are attended,
  so padding a context further changes its forecast;
- space-wise layers attend across variates. This model sees one variate, and attention over a
  single key returns that key's value exactly, so a space-wise layer is the per-token map
  out(v(x)); its q/k weights stay in the state dict so the parameter count matches Toto.
  As in Toto-base (12 layers, a space-wise layer every 12, first), layer 0 is space-wise;
- every patch token is unembedded into patch_size per-step vectors, and each step gets a mixture
  of K Student-T distributions (df = 2 + softplus, loc, scale = softplus, softmax weights),
  rescaled by that token's scaler statistics. Token i predicts the patch after it.

`TotoModel.forward` is the full model (every position, every step), what Toto's forecaster runs
once per batch of samples. `TotoModel.next_step_params` gives the same parameters for one step
of the patch after the context only (the first by default), computing nothing thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.distributions import Categorical, MixtureSameFamily, StudentT

from migrator.errors import BadInputError
from migrator.forecast.checkpoint import load_state_dict_checked
from migrator.forecast.layers import SwiGLU, apply_rotary, rotary_angles


@dataclass(frozen=True)
class TotoConfig:
    patch_size: int = 64
    embed_dim: int = 128
    num_layers: int = 2
    num_heads: int = 4
    mlp_dim: int = 512
    num_components: int = 24  # K Student-T components per step
    spacewise_every_n_layers: int = 12  # layers i with i % n == 0 are space-wise (Toto-base)
    scaler_min_variance: float = 0.1  # scale = sqrt(var + 0.1)
    rope_base: float = 10_000.0

    def __post_init__(self) -> None:
        if self.embed_dim % self.num_heads or (self.embed_dim // self.num_heads) % 2:
            raise ValueError("embed_dim / num_heads must be an even integer (rotary embedding)")


MODEL_CONFIGS: dict[str, TotoConfig] = {
    # 1.60M parameters: embed 128, 2 layers (1 space-wise, 1 time-wise), 4 heads, MLP 512, K 24.
    "small": TotoConfig(),
    # Toto-Open-Base-1.0 shape: 151.2M parameters.
    "base": TotoConfig(embed_dim=768, num_layers=12, num_heads=12, mlp_dim=3072, num_components=24),
}


@dataclass
class MixtureParams:
    """Parameters of a mixture of Student-T distributions, one mixture per leading index."""

    df: torch.Tensor
    loc: torch.Tensor
    scale: torch.Tensor
    logits: torch.Tensor  # unnormalised log mixture weights

    def distribution(self) -> MixtureSameFamily:
        return MixtureSameFamily(
            Categorical(logits=self.logits),
            StudentT(self.df, self.loc, self.scale),
            validate_args=False,
        )

    def sample(self, count: int) -> torch.Tensor:
        """`count` draws per mixture [count, ...]: the same distribution as
        distribution().sample((count,)), but each draw samples only its chosen component
        (MixtureSameFamily draws from all K components and keeps one)."""
        component = Categorical(logits=self.logits).sample((count,))[..., None]
        chosen = [
            t.expand(count, *t.shape).gather(-1, component)[..., 0]
            for t in (self.df, self.loc, self.scale)
        ]
        return StudentT(*chosen, validate_args=False).sample()

    def weights(self) -> torch.Tensor:
        return torch.softmax(self.logits, dim=-1)

    def select(self, index: tuple | slice | int | torch.Tensor) -> MixtureParams:
        return MixtureParams(
            self.df[index], self.loc[index], self.scale[index], self.logits[index]
        )

    @staticmethod
    def cat(parts: list[MixtureParams]) -> MixtureParams:
        return MixtureParams(
            torch.cat([p.df for p in parts]),
            torch.cat([p.loc for p in parts]),
            torch.cat([p.scale for p in parts]),
            torch.cat([p.logits for p in parts]),
        )


def left_pad(contexts: list[torch.Tensor], patch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad 1-D contexts with zeros to one length, a multiple of patch_size (the longest one's).

    Returns (inputs [B, T] float32, padding_mask [B, T] bool, True = observed).
    """
    longest = max(len(c) for c in contexts)
    padded = -(-longest // patch_size) * patch_size
    inputs = torch.zeros(len(contexts), padded, dtype=torch.float32)
    mask = torch.zeros(len(contexts), padded, dtype=torch.bool)
    for row, context in enumerate(contexts):
        inputs[row, padded - len(context) :] = context
        mask[row, padded - len(context) :] = True
    return inputs, mask


def causal_patch_scaler(
    inputs: torch.Tensor, mask: torch.Tensor, patch_size: int, min_variance: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per patch: mean and sqrt(var + min_variance) of all observed values up to its end.

    Accumulated in float64 so E[x^2] - E[x]^2 does not cancel; returns float32 [B, N] each.
    """
    batch, length = inputs.shape
    observed = mask.to(torch.float64)
    values = inputs.to(torch.float64) * observed
    per_patch = (batch, length // patch_size, patch_size)
    count = observed.reshape(per_patch).sum(-1).cumsum(-1).clamp_min(1.0)
    mean = values.reshape(per_patch).sum(-1).cumsum(-1) / count
    mean_sq = (values**2).reshape(per_patch).sum(-1).cumsum(-1) / count
    variance = (mean_sq - mean**2).clamp_min(0.0)
    return mean.float(), torch.sqrt(variance + min_variance).float()


class TransformerLayer(nn.Module):
    def __init__(self, config: TotoConfig, spacewise: bool) -> None:
        super().__init__()
        dim = config.embed_dim
        self.spacewise = spacewise
        self.num_heads = config.num_heads
        self.attn_norm = nn.RMSNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.mlp_norm = nn.RMSNorm(dim)
        self.mlp = SwiGLU(dim, config.mlp_dim)

    def forward(
        self, x: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor], last_only: bool = False
    ) -> torch.Tensor:
        """x [B, N, D] -> [B, N, D], or [B, 1, D] for the last token only when last_only.

        last_only is exact: a causal layer's last output needs every token's keys and values
        but only the last token's query, attention output and MLP.
        """
        residual = x[:, -1:] if last_only else x
        normed = self.attn_norm(x)
        dim = x.shape[-1]
        if self.spacewise:
            # One variate: attention over a single key returns its value.
            value = F.linear(self.attn_norm(residual), self.qkv.weight[2 * dim :])
            h = residual + self.out(value)
        else:
            h = residual + self.out(self._time_attention(normed, rotary, last_only))
        return h + self.mlp(self.mlp_norm(h))

    def _time_attention(
        self, normed: torch.Tensor, rotary: tuple[torch.Tensor, torch.Tensor], last_only: bool
    ) -> torch.Tensor:
        batch, tokens, dim = normed.shape
        heads, head_dim = self.num_heads, dim // self.num_heads
        cos, sin = rotary
        if last_only:
            query = F.linear(normed[:, -1:], self.qkv.weight[:dim])
            key_value = F.linear(normed, self.qkv.weight[dim:])
            key, value = key_value.split(dim, dim=-1)
            q_cos, q_sin = cos[-1:], sin[-1:]
        else:
            query, key, value = self.qkv(normed).split(dim, dim=-1)
            q_cos, q_sin = cos, sin

        def heads_first(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(batch, -1, heads, head_dim).transpose(1, 2)

        query = apply_rotary(heads_first(query), q_cos, q_sin)
        key = apply_rotary(heads_first(key), cos, sin)
        attended = F.scaled_dot_product_attention(
            query, key, heads_first(value), is_causal=not last_only
        )
        return attended.transpose(1, 2).reshape(batch, -1, dim)


class StudentTMixtureHead(nn.Module):
    def __init__(self, dim: int, components: int) -> None:
        super().__init__()
        self.df = nn.Linear(dim, components)
        self.loc = nn.Linear(dim, components)
        self.scale = nn.Linear(dim, components)
        self.weights = nn.Linear(dim, components)

    def forward(self, h: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> MixtureParams:
        """h [..., D]; mean/std broadcast to [..., 1]: the scaler statistics to undo."""
        eps = torch.finfo(h.dtype).eps
        return MixtureParams(
            df=2.0 + F.softplus(self.df(h)),
            loc=self.loc(h) * std + mean,
            scale=F.softplus(self.scale(h)).clamp_min(eps) * std,
            logits=self.weights(h),
        )


class TotoModel(nn.Module):
    def __init__(self, config: TotoConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.embed_dim
        self.patch_embed = nn.Linear(config.patch_size, dim)
        self.layers = nn.ModuleList(
            TransformerLayer(config, spacewise=i % config.spacewise_every_n_layers == 0)
            for i in range(config.num_layers)
        )
        self.final_norm = nn.RMSNorm(dim)
        self.unembed = nn.Linear(dim, dim * config.patch_size)  # step-major: step j = rows jD..(j+1)D
        self.head = StudentTMixtureHead(dim, config.num_components)

    def _trunk(
        self, inputs: torch.Tensor, mask: torch.Tensor, last_only: bool
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        config = self.config
        batch, length = inputs.shape
        if length % config.patch_size:
            raise ValueError(f"input length {length} is not a multiple of {config.patch_size}")
        mean, std = causal_patch_scaler(inputs, mask, config.patch_size, config.scaler_min_variance)
        patches = inputs.reshape(batch, -1, config.patch_size)
        scaled = (patches - mean[..., None]) / std[..., None]
        scaled = scaled * mask.reshape(patches.shape)  # padding stays zero
        x = self.patch_embed(scaled)
        rotary = rotary_angles(x.shape[1], config.embed_dim // config.num_heads, config.rope_base)
        last = len(self.layers) - 1
        for index, layer in enumerate(self.layers):
            x = layer(x, rotary, last_only=last_only and index == last)
        return self.final_norm(x), mean, std

    def forward(self, inputs: torch.Tensor, padding_mask: torch.Tensor) -> MixtureParams:
        """Full model: inputs/padding_mask [B, T] (T a multiple of patch_size).

        Returns mixture parameters [B, T, K]. Token i's patch_size steps forecast the patch
        after patch i, so the last patch_size positions forecast the patch after the input.
        """
        h, mean, std = self._trunk(inputs, padding_mask, last_only=False)
        batch, tokens, dim = h.shape
        steps = self.unembed(h).reshape(batch, tokens * self.config.patch_size, dim)
        expand = self.config.patch_size
        return self.head(
            steps,
            mean.repeat_interleave(expand, dim=1)[..., None],
            std.repeat_interleave(expand, dim=1)[..., None],
        )

    def next_step_params(
        self, inputs: torch.Tensor, padding_mask: torch.Tensor, step: int = 0
    ) -> MixtureParams:
        """Mixture parameters [B, K] of step `step` (0 = the next one) of the patch after each
        input, equal to forward(...).select((slice(None), step - patch_size)) without computing
        the rest."""
        if not 0 <= step < self.config.patch_size:
            raise ValueError(f"step {step} is not within the patch after the input")
        h, mean, std = self._trunk(inputs, padding_mask, last_only=True)
        rows = slice(step * self.config.embed_dim, (step + 1) * self.config.embed_dim)
        hidden = F.linear(h[:, -1], self.unembed.weight[rows], self.unembed.bias[rows])
        return self.head(hidden, mean[:, -1:], std[:, -1:])


def build_model(name: str = "small", *, seed: int = 0, checkpoint: Path | None = None) -> TotoModel:
    """A TotoModel in eval mode: seeded random weights, or a saved state dict of the same shape."""
    if name not in MODEL_CONFIGS:
        raise BadInputError(f"unknown model {name!r}; choose one of {', '.join(MODEL_CONFIGS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = TotoModel(MODEL_CONFIGS[name])
    if checkpoint is not None:
        load_state_dict_checked(model, Path(checkpoint), repr(name))
    return model.eval()
