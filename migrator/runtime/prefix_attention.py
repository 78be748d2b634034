"""Attention of many rows over one shared prefix, without copying the prefix per row.

Used by the exact Kronos runtime (on the user's own Kronos modules) and by the bundled Kronos
model in migrator.forecast: both run a window's shared context once and each path's own tokens
after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PrefixKV:
    """Keys and values [G, heads, P, head_dim] of G shared prefixes for one attention; the rows
    that follow them come in G equal groups, group g after prefix g."""

    key: torch.Tensor
    value: torch.Tensor

    @property
    def length(self) -> int:
        return self.key.shape[2]


def attend_after_prefix(query: torch.Tensor, key: torch.Tensor | None, value: torch.Tensor | None,
                        prefix: PrefixKV | None, causal: bool) -> torch.Tensor:
    """softmax(q [k_prefix, k_own]^T / sqrt(hd)) [v_prefix, v_own] for query [B, H, T, hd].

    Prefix g (of G) is shared by the g-th group of B / G rows: each group's queries are folded
    into one matrix per head against it, so a prefix is never copied per row. Own keys (None:
    none) are the rows' own, causal over T when `causal`.
    """
    batch, heads, tokens, head_dim = query.shape
    scale = 1.0 / math.sqrt(head_dim)
    parts = []
    shared = prefix is not None and prefix.length > 0
    if shared:
        groups = prefix.key.shape[0]
        rows = batch // groups

        def fold(t: torch.Tensor) -> torch.Tensor:  # [B, H, T, X] -> [G, H, rows*T, X]
            return t.reshape(groups, rows, heads, tokens, -1).transpose(1, 2).reshape(groups, heads, rows * tokens, -1)

        def unfold(t: torch.Tensor) -> torch.Tensor:  # the inverse
            return t.reshape(groups, heads, rows, tokens, -1).transpose(1, 2).reshape(batch, heads, tokens, -1)

        parts.append(unfold(torch.matmul(fold(query), prefix.key.transpose(2, 3)) * scale))
    own_keys = key is not None and key.shape[2] > 0
    if own_keys:
        own = torch.matmul(query, key.transpose(2, 3)) * scale  # [B, H, T, T']
        if causal:
            mask = torch.ones(tokens, key.shape[2], dtype=torch.bool, device=query.device)
            own = own.masked_fill(mask.triu(1 + key.shape[2] - tokens), float("-inf"))
        parts.append(own)
    weights = torch.softmax(torch.cat(parts, dim=-1), dim=-1)
    out = None
    if shared:
        width = prefix.length
        out = unfold(torch.matmul(fold(weights[..., :width]), prefix.value))
        weights = weights[..., width:]
    if own_keys:
        own_out = torch.matmul(weights, value)
        out = own_out if out is None else out + own_out
    return out
