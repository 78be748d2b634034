"""Loading a user's saved state dict into a model: untrusted bytes, so every failure is one line
of bad input naming the file."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from migrator.errors import BadInputError
from migrator.files import UnreadableFile, check_regular


def load_state_dict_checked(model: nn.Module, path: Path, label: str) -> None:
    """Load a state dict saved with torch.save into `model`; BadInputError naming `path` unless
    it has exactly the model's keys and shapes. `label` names the model in that message."""
    check_state_dict(model, read_state_dict(path), path, label)


def read_state_dict(path: Path) -> dict:
    """A dict saved with torch.save (weights only); BadInputError naming `path` otherwise."""
    try:
        check_regular(path)  # a FIFO or a device would block torch.load, or feed it without end
    except UnreadableFile as exc:
        raise BadInputError(f"{path}: cannot read checkpoint: {exc.reason}") from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    # Any failure to unpickle an untrusted file is bad input (struct.error, ValueError, ... seen).
    except Exception as exc:  # noqa: BLE001
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise BadInputError(f"{path}: cannot read checkpoint: {reason}") from None
    if not isinstance(state, dict):
        raise BadInputError(f"{path}: not a state dict (found {type(state).__name__})")
    return state


def check_state_dict(model: nn.Module, state: dict, path: Path, label: str) -> None:
    """Load `state` into `model` unless its keys and shapes differ from the model's (BadInputError
    naming `path` and the model `label`)."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = [
        f"{key} {tuple(getattr(state[key], 'shape', ()))} != {tuple(value.shape)}"
        for key, value in expected.items()
        if key in state
        and (not isinstance(state[key], torch.Tensor) or state[key].shape != value.shape)
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing (e.g. {missing[0]})")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
    if wrong_shape:
        problems.append(f"{len(wrong_shape)} with the wrong shape (e.g. {wrong_shape[0]})")
    if problems:
        raise BadInputError(
            f"{path}: not a checkpoint of the {label} model: keys " + "; ".join(problems)
        )
    model.load_state_dict(state)
