"""Whether the `forecast` extra is installed, asked without importing torch at `migrate --help`."""

from __future__ import annotations

import importlib

from migrator.errors import BadInputError

_FORECAST_EXTRA = ("numpy", "scipy", "torch")


def require_forecast_extra() -> None:
    """numpy, scipy and torch are the `forecast` extra: without them, one line saying how to get it."""
    for name in _FORECAST_EXTRA:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            missing = isinstance(exc, ModuleNotFoundError) and (exc.name or "").split(".")[0] == name
            raise BadInputError("migrate profile needs the forecast extra: pip install 'migrate[forecast]'"
                                + ("" if missing else f" (importing {name} failed: {exc})")) from None
