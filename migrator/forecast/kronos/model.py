"""A Kronos-style candlestick forecaster, readable in one file, shaped like Kronos's model/kronos.py.

- Tokenizer: 6 features per bar (open, high, low, close, volume, amount) -> Linear embed ->
  causal transformer blocks -> Linear to s1_bits + s2_bits -> binary spherical quantisation
  (L2-normalise, sign, scale 1/sqrt(bits)); the first s1_bits bits give the coarse token s1,
  the rest the fine token s2. Decoding maps the bits back through Linear -> causal blocks ->
  Linear to the 6 features.
- Predictor: each bar's (s1, s2) pair embedded (two tables scaled by sqrt(d), concatenated,
  fused by a Linear) plus a time embedding (minute, hour, weekday, day, month); pre-norm
  RMSNorm causal transformer blocks with rotary positions and a SwiGLU feed-forward; a final
  RMSNorm; the s1 head. Then the "dependency-aware" layer: a 4-head cross-attention whose
  query is the sampled s1's embedding over the window's hidden states, RMSNorm(hidden +
  attention), and the s2 head. With one query, Kronos's rotary rotates the query and every
  key by the same angle (position 0), which leaves every q.k unchanged: no rotary here.

Every block works in two modes (the same arithmetic):
- `Block.forward(x)`: causal self-attention over the whole sequence (what Kronos runs);
- `Block.extend(x, prefix)`: tokens that follow a prefix whose keys/values (`PrefixKV`) are
  shared by a group of rows of x (G prefixes, G equal groups). The queries of a group are
  folded into one matrix against its prefix's keys, so a prefix is neither copied nor
  recomputed per row; softmax
  runs over [prefix scores, own causal scores] together. This is exact: a causal token's
  output depends only on the tokens before it.

Sampling is Kronos's `sample_from_logits`: logits / temperature, then top_k filtering (which
returns before top_p is looked at, so top_p is ignored when top_k > 0), else nucleus (top_p)
filtering, softmax, torch.multinomial(probs, 1). `sample_tokens(..., uniforms=u)` draws by
inverse CDF from given uniforms instead, so two engines can be fed the same random draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from migrator.errors import BadInputError
from migrator.forecast.checkpoint import check_state_dict, read_state_dict
from migrator.forecast.layers import SwiGLU, apply_rotary, rotary_angles
from migrator.runtime.prefix_attention import PrefixKV, attend_after_prefix

FEATURES = 6  # open, high, low, close, volume, amount
_TIME_SIZES = (60, 24, 7, 32, 13)
DEP_HEADS = 4  # the dependency-aware layer's cross-attention heads
RMS_EPS = 1e-5  # Kronos's RMSNorm eps (torch's default would be the dtype's epsilon)


@dataclass(frozen=True)
class TokenizerConfig:
    d_model: int = 256
    n_heads: int = 4
    ff_dim: int = 512
    # Kronos's convention: the tokenizer builds n - 1 encoder and n - 1 decoder blocks
    # (Tokenizer-base: 4, i.e. 3 blocks each).
    n_enc_layers: int = 4
    n_dec_layers: int = 4
    s1_bits: int = 10
    s2_bits: int = 10


@dataclass(frozen=True)
class KronosConfig:
    d_model: int
    n_layers: int
    n_heads: int
    ff_dim: int
    max_context: int
    s1_bits: int = 10
    s2_bits: int = 10
    tokenizer: TokenizerConfig = TokenizerConfig()
    rope_base: float = 10_000.0


KRONOS_CONFIGS: dict[str, KronosConfig] = {
    # Kronos-mini / small / base (predictor 4.1M / 24.7M / 102.3M parameters), tokenizer-base.
    "mini": KronosConfig(d_model=256, n_layers=4, n_heads=4, ff_dim=512, max_context=2048),
    "small": KronosConfig(d_model=512, n_layers=8, n_heads=8, ff_dim=1024, max_context=512),
    "base": KronosConfig(d_model=832, n_layers=12, n_heads=16, ff_dim=2048, max_context=512),
    # Not a Kronos release: a shape small enough for the tests and CI benchmarks.
    "tiny": KronosConfig(d_model=64, n_layers=2, n_heads=4, ff_dim=128, max_context=512,
                         tokenizer=TokenizerConfig(d_model=32, n_heads=2, ff_dim=64,
                                                   n_enc_layers=2, n_dec_layers=2)),
}
PUBLIC_MODELS = ("mini", "small", "base")


def _split_heads(t: torch.Tensor, heads: int) -> torch.Tensor:
    batch, tokens, dim = t.shape
    return t.reshape(batch, tokens, heads, dim // heads).transpose(1, 2)


def _merge_heads(t: torch.Tensor) -> torch.Tensor:
    batch, heads, tokens, head_dim = t.shape
    return t.transpose(1, 2).reshape(batch, tokens, heads * head_dim)


class Block(nn.Module):
    """Pre-norm: x + attn(RMSNorm(x)) with rotary positions, then + SwiGLU(RMSNorm(.))."""

    def __init__(self, dim: int, heads: int, ff_dim: int, rope_base: float = 10_000.0) -> None:
        super().__init__()
        self.heads, self.rope_base = heads, rope_base
        self.norm1 = nn.RMSNorm(dim, eps=RMS_EPS)
        self.q = nn.Linear(dim, dim)  # Kronos's projections carry biases
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.RMSNorm(dim, eps=RMS_EPS)
        self.ffn = SwiGLU(dim, ff_dim)

    def _rotary(self, start: int, tokens: int) -> tuple[torch.Tensor, torch.Tensor]:
        cos, sin = rotary_angles(start + tokens, self.q.in_features // self.heads, self.rope_base)
        return cos[start:], sin[start:]

    def _qkv(self, normed: torch.Tensor, start: int) -> tuple[torch.Tensor, ...]:
        cos, sin = self._rotary(start, normed.shape[1])
        query = apply_rotary(_split_heads(self.q(normed), self.heads), cos, sin)
        key = apply_rotary(_split_heads(self.k(normed), self.heads), cos, sin)
        return query, key, _split_heads(self.v(normed), self.heads)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, T, D]: causal self-attention over positions 0..T-1."""
        query, key, value = self._qkv(self.norm1(x), 0)
        attended = F.scaled_dot_product_attention(query, key, value, is_causal=True)
        h = x + self.out(_merge_heads(attended))
        return h + self.ffn(self.norm2(h))

    def prefix_kv(self, x: torch.Tensor) -> PrefixKV:
        """Keys/values of prefixes x [G, P, D] at positions 0..P-1 (all a following token needs)."""
        _, key, value = self._qkv(self.norm1(x), 0)
        return PrefixKV(key, value)

    def extend(self, x: torch.Tensor, prefix: PrefixKV) -> torch.Tensor:
        """x [B, T, D] at positions P..P+T-1 after the shared prefixes (B / G rows each): the
        same as the last T rows of forward(cat(prefix tokens, x)) for every row."""
        query, key, value = self._qkv(self.norm1(x), prefix.length)
        attended = attend_after_prefix(query, key, value, prefix, causal=True)
        h = x + self.out(_merge_heads(attended))
        return h + self.ffn(self.norm2(h))


def run_prefix(blocks: nn.ModuleList, x: torch.Tensor, *, need_output: bool
               ) -> tuple[list[PrefixKV], torch.Tensor | None]:
    """Shared prefixes x [G, P, D] through `blocks`: each block's PrefixKV and, when
    need_output, the last block's output (else the last block stops at its keys/values)."""
    cache = []
    for index, block in enumerate(blocks):
        cache.append(block.prefix_kv(x))
        if need_output or index < len(blocks) - 1:
            x = block(x)
    return cache, (x if need_output else None)


def run_after_prefix(blocks: nn.ModuleList, x: torch.Tensor, cache: list[PrefixKV]) -> torch.Tensor:
    for block, prefix in zip(blocks, cache):
        x = block.extend(x, prefix)
    return x


class KronosTokenizer(nn.Module):
    def __init__(self, config: TokenizerConfig) -> None:
        super().__init__()
        self.config = config
        d, bits = config.d_model, config.s1_bits + config.s2_bits
        self.embed = nn.Linear(FEATURES, d)
        self.encoder = nn.ModuleList(Block(d, config.n_heads, config.ff_dim) for _ in range(config.n_enc_layers - 1))
        self.quant_embed = nn.Linear(d, bits)
        self.post_quant_embed = nn.Linear(bits, d)
        self.decoder = nn.ModuleList(Block(d, config.n_heads, config.ff_dim) for _ in range(config.n_dec_layers - 1))
        self.head = nn.Linear(d, FEATURES)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Bars x [B, T, 6] (normalised) -> (s1, s2) token ids [B, T] each."""
        z = self.embed(x)
        for block in self.encoder:
            z = block(z)
        z = F.normalize(self.quant_embed(z), dim=-1)  # on the unit sphere; bits are its signs
        bits = (z > 0).long()
        s1_bits = self.config.s1_bits
        return _bits_to_index(bits[..., :s1_bits]), _bits_to_index(bits[..., s1_bits:])

    def quantized(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """The post-quantisation embedding of token pairs [..., d]."""
        bits = torch.cat([_index_to_bits(s1, self.config.s1_bits),
                          _index_to_bits(s2, self.config.s2_bits)], dim=-1)
        signs = bits.float() * 2.0 - 1.0
        return self.post_quant_embed(signs / math.sqrt(bits.shape[-1]))

    def decode(self, s1: torch.Tensor, s2: torch.Tensor) -> torch.Tensor:
        """Token ids [B, T] -> bars [B, T, 6] (normalised)."""
        z = self.quantized(s1, s2)
        for block in self.decoder:
            z = block(z)
        return self.head(z)


def _bits_to_index(bits: torch.Tensor) -> torch.Tensor:
    return (bits * (2 ** torch.arange(bits.shape[-1]))).sum(-1)


def _index_to_bits(index: torch.Tensor, count: int) -> torch.Tensor:
    return (index[..., None] >> torch.arange(count)) & 1


class DependencyAwareLayer(nn.Module):
    """RMSNorm(hidden + cross-attention(query = sibling embedding, keys/values = hidden))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.RMSNorm(dim, eps=RMS_EPS)

    def key_value(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return _split_heads(self.k(hidden), DEP_HEADS), _split_heads(self.v(hidden), DEP_HEADS)

    def forward(self, hidden: torch.Tensor, sibling: torch.Tensor) -> torch.Tensor:
        """Kronos's decode_s2: hidden [B, T, D], sibling [B, 1, D] -> [B, T, D] (every position)."""
        query = _split_heads(self.q(sibling), DEP_HEADS)
        key, value = self.key_value(hidden)
        attended = F.scaled_dot_product_attention(query, key, value)
        return self.norm(hidden + self.out(_merge_heads(attended)))

    def last_position(self, last_hidden: torch.Tensor, sibling: torch.Tensor,
                      shared: PrefixKV | None, own: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
        """forward(...)[:, -1] only: last_hidden [B, D], sibling [B, 1, D]; the window's keys and
        values split into a shared part (batch 1) and the rows' own (or None)."""
        query = _split_heads(self.q(sibling), DEP_HEADS)
        key, value = own if own is not None else (None, None)
        attended = attend_after_prefix(query, key, value, shared, causal=False)
        return self.norm(last_hidden + self.out(_merge_heads(attended))[:, 0])


class KronosPredictor(nn.Module):
    def __init__(self, config: KronosConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        self.emb_s1 = nn.Embedding(2 ** config.s1_bits, d)
        self.emb_s2 = nn.Embedding(2 ** config.s2_bits, d)
        self.fusion = nn.Linear(2 * d, d)
        self.time_emb = nn.ModuleList(nn.Embedding(size, d) for size in _TIME_SIZES)
        self.blocks = nn.ModuleList(
            Block(d, config.n_heads, config.ff_dim, config.rope_base) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(d, eps=RMS_EPS)
        self.head_s1 = nn.Linear(d, 2 ** config.s1_bits)
        self.dep = DependencyAwareLayer(d)
        self.head_s2 = nn.Linear(d, 2 ** config.s2_bits)

    def embed(self, s1: torch.Tensor, s2: torch.Tensor, stamps: torch.Tensor) -> torch.Tensor:
        """Token ids [B, T] and time stamps [B or 1, T, 5] -> [B, T, D]."""
        scale = math.sqrt(self.config.d_model)
        x = self.fusion(torch.cat([self.emb_s1(s1) * scale, self.emb_s2(s2) * scale], dim=-1))
        for index, table in enumerate(self.time_emb):
            x = x + table(stamps[..., index])
        return x

    def decode_s1(self, s1: torch.Tensor, s2: torch.Tensor, stamps: torch.Tensor
                  ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kronos's decode_s1: s1 logits at every position [B, T, V] and the normed hidden states."""
        x = self.embed(s1, s2, stamps)
        for block in self.blocks:
            x = block(x)
        hidden = self.norm(x)
        return self.head_s1(hidden), hidden

    def decode_s2(self, hidden: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        """Kronos's decode_s2: s2 logits at every position [B, T, V] given the sampled s1 [B, 1]."""
        return self.head_s2(self.dep(hidden, self.emb_s1(s1)))


class KronosModel(nn.Module):
    """The tokenizer and the predictor, as Kronos's KronosPredictor wrapper holds them."""

    def __init__(self, config: KronosConfig) -> None:
        super().__init__()
        self.config = config
        self.tokenizer = KronosTokenizer(config.tokenizer)
        self.predictor = KronosPredictor(config)


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.99


def filter_logits(logits: torch.Tensor, params: SamplingParams) -> torch.Tensor:
    """Kronos's top_k_top_p_filtering after the temperature: a new tensor, filtered to -inf."""
    logits = logits / params.temperature
    if params.top_k > 0:  # returns here: top_p is not applied when top_k is set
        top_k = min(params.top_k, logits.shape[-1])
        threshold = torch.topk(logits, top_k)[0][..., -1, None]
        return logits.masked_fill(logits < threshold, float("-inf"))
    if params.top_p < 1.0:
        sorted_logits, order = torch.sort(logits, descending=True)
        cumulative = torch.cumsum(torch.softmax(sorted_logits, dim=-1), dim=-1)
        remove = cumulative > params.top_p
        remove[..., 1:] = remove[..., :-1].clone()  # keep the token that crosses top_p
        remove[..., 0] = False
        return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))
    return logits


def sample_tokens(logits: torch.Tensor, params: SamplingParams,
                  uniforms: torch.Tensor | None = None) -> torch.Tensor:
    """One token per row of logits [B, V] -> [B]: torch.multinomial as Kronos draws, or, given
    uniforms [B] in [0, 1), the inverse CDF at them (the same distribution, chosen draws)."""
    probs = torch.softmax(filter_logits(logits, params), dim=-1)
    if uniforms is None:
        return torch.multinomial(probs, 1)[:, 0]
    cdf = torch.cumsum(probs.double(), dim=-1)
    index = torch.searchsorted(cdf, (uniforms.double() * cdf[:, -1])[:, None], right=True)[:, 0]
    return index.clamp_max(probs.shape[-1] - 1)


def time_stamps(timestamps: np.ndarray) -> torch.Tensor:
    """datetime64 values [T] -> (minute, hour, weekday, day, month) ids [T, 5]."""
    seconds = np.asarray(timestamps).astype("datetime64[s]").astype(np.int64)
    days = seconds // 86_400
    dates = np.asarray(timestamps).astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months).astype(np.int64) + 1
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    minute = (seconds // 60) % 60
    hour = (seconds // 3600) % 24
    return torch.as_tensor(np.stack([minute, hour, weekday, day, month], axis=-1), dtype=torch.long)


_BLOCK_NAMES = (("self_attn.q_proj.", "q."), ("self_attn.k_proj.", "k."), ("self_attn.v_proj.", "v."),
                ("self_attn.out_proj.", "out."), ("ffn.w1.", "ffn.gate."), ("ffn.w3.", "ffn.up."),
                ("ffn.w2.", "ffn.down."), ("norm1.", "norm1."), ("norm2.", "norm2."))
_PREDICTOR_NAMES = (("embedding.emb_s1.", "emb_s1."), ("embedding.emb_s2.", "emb_s2."),
                    ("embedding.fusion_proj.", "fusion."), ("time_emb.minute_embed.", "time_emb.0."),
                    ("time_emb.hour_embed.", "time_emb.1."), ("time_emb.weekday_embed.", "time_emb.2."),
                    ("time_emb.day_embed.", "time_emb.3."), ("time_emb.month_embed.", "time_emb.4."),
                    ("dep_layer.cross_attn.q_proj.", "dep.q."), ("dep_layer.cross_attn.k_proj.", "dep.k."),
                    ("dep_layer.cross_attn.v_proj.", "dep.v."), ("dep_layer.cross_attn.out_proj.", "dep.out."),
                    ("dep_layer.norm.", "dep.norm."), ("head.proj_s1.", "head_s1."), ("head.proj_s2.", "head_s2."),
                    ("norm.", "norm."))
# Real tensors with no counterpart here: rotary tables (recomputed), the quantiser's constant
# buffers, and the tokenizer's s1-only decoder input (used in training only).
_UNUSED = (".rotary.inv_freq", "tokenizer.bsq.", "post_quant_embed_pre.")


def _renamed(key: str, blocks: str, names: tuple) -> str | None:
    for real, ours in names:
        if key.startswith(real):
            return ours + key[len(real):]
    parts = key.split(".", 2)
    if parts[0] == blocks and len(parts) == 3:
        for real, ours in _BLOCK_NAMES:
            if parts[2].startswith(real):
                return f"{parts[0]}.{parts[1]}.{ours}{parts[2][len(real):]}"
    return None


def from_real_kronos(model_state: dict, tokenizer_state: dict) -> dict:
    """A real Kronos's and KronosTokenizer's state dicts (Kronos's model/ names) as a
    KronosModel state dict; unknown keys are kept as they are, so a mismatch is reported by
    the checked load rather than dropped."""
    state = {}
    for key, value in model_state.items():
        key = key.replace(".emb.weight", ".weight")  # learn_te=False: a FixedEmbedding's table
        if any(marker in key for marker in _UNUSED):
            continue
        new = _renamed(key.replace("transformer.", "blocks.", 1) if key.startswith("transformer.") else key,
                       "blocks", _PREDICTOR_NAMES)
        state["predictor." + (new or key)] = value
    for key, value in tokenizer_state.items():
        if any(marker in key for marker in _UNUSED) or key.startswith("tokenizer.bsq."):
            continue
        new = None
        for blocks in ("encoder", "decoder"):
            new = new or _renamed(key, blocks, ())
        state["tokenizer." + (new or key)] = value
    return state


def build_kronos(name: str = "mini", *, seed: int = 0, checkpoint: Path | None = None) -> KronosModel:
    """A KronosModel in eval mode: seeded random weights, or a saved state dict of the same shape
    (tokenizer.* and predictor.* keys, as `KronosModel.state_dict()` writes them), or a real
    Kronos's: `torch.save({"model": kronos.state_dict(), "tokenizer": tokenizer.state_dict()})`."""
    if name not in KRONOS_CONFIGS:
        raise BadInputError(f"unknown Kronos model {name!r}; choose one of {', '.join(PUBLIC_MODELS)}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = KronosModel(KRONOS_CONFIGS[name])
        # Embedding tables default to N(0, 1); scaled by sqrt(d) that swamps everything else.
        for table in [model.predictor.emb_s1, model.predictor.emb_s2, *model.predictor.time_emb]:
            nn.init.normal_(table.weight, std=0.02)
    if checkpoint is not None:
        path = Path(checkpoint)
        state = read_state_dict(path)
        if set(state) == {"model", "tokenizer"} and all(isinstance(part, dict) for part in state.values()):
            state = from_real_kronos(state["model"], state["tokenizer"])
        check_state_dict(model, state, path, f"Kronos-{name}")
    return model.eval()
