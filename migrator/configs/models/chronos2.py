"""Chronos-2 (amazon/chronos-2): config.device_map, config.batch_size, config.context_length.

What a user on a CPU box or a smaller GPU edits by hand today.
Each option is optional; at least one is given. Files in other folders
(chronos2_v2/, crypto_lora_sweep/) are another shape and are never listed; a file in
chronos2/ without a "model" key is skipped and reported, not refused.
"""

from __future__ import annotations

import re

from migrator.configs.models.base import Config, ConfigModel, Option, positive_int

# Chronos2Pipeline.from_pretrained(device_map=...) takes a torch device string or
# accelerate's automatic placement, "auto". The device strings are those torch.device
# parses (torch 2.13's device types, an index without leading zeros), read here without
# importing torch (the configs commands run without it); tests hold this to torch.device.
# One exception: torch wraps an index above 127 into another device (cuda:128 becomes
# cuda:-128, cuda:255 plain cuda), so those are refused.
TORCH_DEVICE_TYPES = ("cpu", "cuda", "ipu", "xpu", "mkldnn", "opengl", "opencl", "ideep", "hip", "ve",
                      "fpga", "maia", "xla", "lazy", "vulkan", "mps", "meta", "hpu", "mtia",
                      "privateuseone")
MAX_DEVICE_INDEX = 127  # torch's DeviceIndex is an int8
AUTO = "auto"
_DEVICE = re.compile(rf"(?:{'|'.join(TORCH_DEVICE_TYPES)})(?::(0|[1-9][0-9]*))?")
NAME = re.compile(r"(chronos2_)?ctx([0-9]+)_bs([0-9]+)(_.*)?", re.DOTALL)


def _check_device_map(value: str) -> str | None:
    match = _DEVICE.fullmatch(value)
    if value == AUTO or (match and (match.group(1) is None or int(match.group(1)) <= MAX_DEVICE_INDEX)):
        return None
    return f"must be a torch device (cpu, cuda, cuda:N with N <= {MAX_DEVICE_INDEX}, mps, ...) or auto, got {value!r}"


def _rename(name: str, old: Config, new: Config) -> str | None:
    """[chronos2_]ctx<context_length>_bs<batch_size>[_...] ("ctx512_bs128_median_uni",
    "chronos2_ctx2048_bs2048_val20_test20"), when it spells both old values exactly."""
    match = NAME.fullmatch(name)
    if (match is None or type(old["context_length"]) is not int or type(old["batch_size"]) is not int
            or match.group(2) != str(old["context_length"]) or match.group(3) != str(old["batch_size"])):
        return None
    renamed = (f"{match.group(1) or ''}ctx{new['context_length']}_bs{new['batch_size']}"
               f"{match.group(4) or ''}")
    return renamed if renamed != name else None


MODEL = ConfigModel(
    name="chronos2",
    folder="chronos2",
    schema="chronos2",
    summary="Set Chronos-2 device_map / batch_size / context_length in hyperparams files.",
    help="""Set Chronos-2's device_map, batch_size and/or context_length in
    HYPERPARAMS/chronos2/*.json and in HYPERPARAMS/best/*.json selections whose
    model is chronos2 (at least one option).

    Only the changed values' bytes differ (config.name is updated when it spells
    the old context length and batch size, as in ctx512_bs128_median_uni or
    chronos2_ctx2048_bs2048_val20_test20). metadata (what was evaluated) is
    left as it is.
    """,
    options=(
        Option("--device-map", "device_map", str, "DEVICE",
               "New config.device_map: a torch device (cpu, cuda, cuda:N, mps, ...) or auto.",
               _check_device_map),
        Option("--batch-size", "batch_size", int, "N", "New config.batch_size.", positive_int),
        Option("--context-length", "context_length", int, "N", "New config.context_length.", positive_int),
    ),
    all_required=False,
    rename=_rename,
    skip_without_model=True,
)
