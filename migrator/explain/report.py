"""Text rendering of an Explanation (the JSON is Explanation.as_json())."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from migrator.backtest import Unknown
from migrator.explain.resolve import Explanation
from migrator.names import printable, printable_document


def _show(value: Any) -> str:
    if isinstance(value, dict) and set(value) == {"unknown"}:
        return "unknown"
    if isinstance(value, Unknown):
        return "unknown"
    return str(value)


def _table(rows: list[list[str]], bold_header: bool) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    if bold_header:
        lines[0] = f"\x1b[1m{lines[0]}\x1b[0m"
    return lines


def render_text(explanation: Explanation, tty: bool, root: Path | None = None) -> str:
    """The report: settings with their provenance, one table row per symbol, the reasons
    behind each value, and the MARKETSIM_* hooks. ANSI bold headers only on a tty. Paths
    under `root` are shown relative to it (the JSON keeps them absolute, for tools)."""
    document = printable_document(explanation.as_json())  # file names and symbols: one line each
    out = [f"backtest: {document['backtest']}",
           f"hyperparams: {_show(document['hyperparams']['path'])}  ({document['hyperparams']['why']})",
           f"FAST_TESTING: {_show(document['fast_testing']['value'])}  ({document['fast_testing']['why']})"]
    clamp = document["settings"]["clamp_function"]
    out.append("Toto clamp: " + (f"{clamp['text'][4:]} ({clamp['location']})" if "location" in clamp
                                 else f"unknown ({clamp['unknown']})"))
    for name, bound in document["toto_bounds"].items():
        out.append(f"  {name:<22} {_show(bound['value']):<6} {bound['why']}")
    for site in document["settings"]["max_horizon"]:
        out.append(f"max_horizon: {site['text']}  ({site['location']})")
    for site in document["settings"]["validation_windows"]:
        out.append(f"validation window: {site['text']}  ({site['location']}): compared with max_horizon "
                   f"forecasts; a max_horizon below {site['value']} changes or breaks the backtest")
    out.append("")
    symbols = document["symbols"]
    if not symbols:
        out.append("no symbols: none found under the hyperparams folder's toto/, kronos/, best/ (use --symbol)")
    else:
        rows = [["SYMBOL", "BEST", "TOTO FILE", "TOTO FROM", "NUM_SAMPLES", "PER_BATCH", "AGGREGATE",
                 "KRONOS FILE", "SAMPLE_COUNT"]]
        for symbol, parts in symbols.items():
            toto, kronos = parts["toto"], parts["kronos"]
            if "unknown" in toto:
                rows.append([symbol] + ["unknown"] * 8)
                continue
            runtime = toto["runtime"]
            rows.append([symbol, _show(parts["best"].get("model") or "-"), toto["file"]["state"], toto["source"],
                         _show(runtime["num_samples"]) + (" (clamped)" if runtime.get("clamped") else ""),
                         _show(runtime["samples_per_batch"]), _show(runtime["aggregate"]),
                         kronos["file"]["state"], _show(kronos["sample_count"]["value"])])
        out += _table(rows, tty)
        out.append("")
        out.append("why:")
        for symbol, parts in symbols.items():
            toto, kronos = parts["toto"], parts["kronos"]
            if "unknown" in toto:
                out.append(f"  {symbol}: {toto['unknown']}")
                continue
            for key, value in toto["values"].items():
                out.append(f"  {symbol} toto {key} = {_show(value['value'])}: {value['why']}")
            shown = {value["why"] for value in toto["values"].values()}
            for reason in toto["runtime"].get("why", []):
                if reason not in shown:
                    out.append(f"  {symbol} toto: {reason}")
            out.append(f"  {symbol} kronos sample_count = {_show(kronos['sample_count']['value'])}: "
                       f"{kronos['sample_count']['why']}")
            runs = parts["best"].get("runs")
            if runs is not None:
                out.append(f"  {symbol} model = {_show(runs['value'])}: {runs['why']}")
            chronos2 = parts.get("chronos2")
            if chronos2 is not None:
                settings = ", ".join(f"{key}={_show(value['value'])}" for key, value in chronos2["values"].items())
                out.append(f"  {symbol} chronos2 config {chronos2['config'].get('path') or 'unknown'} "
                           f"({chronos2['config'].get('named_by') or chronos2['config'].get('reason')}): {settings}")
                out += [f"  {symbol} chronos2 {key}: {value['why']}" for key, value in chronos2["values"].items()
                        if isinstance(value["value"], dict)]
            for note in parts["notes"]:
                out.append(f"  {symbol}: note: {note}")
    out.append("")
    if not document["hooks"]:
        out.append("MARKETSIM_* reads: none in the backtest module")
    else:
        out.append("MARKETSIM_* reads (who added them; what the current environment makes them do):")
        rows = [["VARIABLE", "BY", "WHERE", "NOW", "EFFECT"]]
        for hook in document["hooks"]:
            where = hook["location"] + (f" in {hook['function']}" if hook["function"] else "")
            now = "unset" if hook["env_value"] is None else repr(hook["env_value"])
            rows.append([hook["var"], hook["origin"], where, now, hook["effect"]])
        out += ["  " + line for line in _table(rows, tty)]
        for hook in document["hooks"]:
            if hook["marker"]:
                out.append(f"  {hook['var']} ({hook['location']}): {hook['marker']}")
    text = "\n".join(out) + "\n"
    if root is None:
        return text
    shown_root = printable(str(root))
    return text.replace(f"{shown_root}{os.sep}", "").replace(shown_root, ".")
