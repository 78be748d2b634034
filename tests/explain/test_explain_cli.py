"""`migrate explain`: exit codes, bad files, the text report."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import clean_env, run_explain


def test_missing_or_broken_backtest_is_one_line_exit_2(tmp_path: Path):
    code, out, err = run_explain(["--root", str(tmp_path)], clean_env())
    assert code == 2
    assert err.strip().count("\n") == 0 and "backtest_test3_inline.py" in err and out == ""
    broken = tmp_path / "backtest_test3_inline.py"
    broken.write_bytes(b"def broken(:\n")
    code, out, err = run_explain(["--root", str(tmp_path), "--json"], clean_env())
    assert code == 2 and "backtest_test3_inline.py:1" in err and "Traceback" not in err


def test_bad_symbol_is_refused(project):
    root = project("guide_shape.py")
    code, _, err = run_explain(["--root", str(root), "--symbol", "../etc/passwd"], clean_env())
    assert code == 2 and "--symbol" in err


def test_invalid_files_make_that_symbols_values_unknown(project):
    root = project("guide_shape.py")
    (root / "hyperparams" / "toto" / "AAPL.json").write_text('{"config": {"num_samples": 64,')
    (root / "hyperparams" / "toto" / "NVDA.json").write_text('{"config": {"num_samples": "64", "samples_per_batch": 32}}')
    (root / "hyperparams" / "kronos" / "ETHUSD.json").write_text('[1, 2]')
    (root / "hyperparams" / "toto" / "XOM.json").write_bytes(b'\xff\xfe{}')
    code, out, err = run_explain(["--root", str(root), "--json"], clean_env())
    assert code == 0, err
    symbols = json.loads(out)["symbols"]
    aapl = symbols["AAPL"]["toto"]
    assert aapl["file"]["state"] == "invalid" and "AAPL.json:1:" in aapl["file"]["reason"]
    assert "unknown" in aapl["runtime"]["num_samples"]
    assert symbols["AAPL"]["kronos"]["sample_count"]["value"] == 320  # the kronos file is fine
    nvda = symbols["NVDA"]["toto"]["runtime"]
    assert "not a finite integer" in nvda["num_samples"]["unknown"]
    assert symbols["ETHUSD"]["kronos"]["file"]["state"] == "invalid"
    assert "unknown" in symbols["ETHUSD"]["kronos"]["sample_count"]["value"]
    assert symbols["XOM"]["toto"]["file"]["state"] == "invalid"
    # Text mode shows them as unknown, never a traceback.
    code, text, err = run_explain(["--root", str(root)], clean_env())
    assert code == 0 and "unknown" in text and "Traceback" not in text + err


def test_text_report_names_values_and_their_sources(project):
    root = project("guide_shape.py", with_toto=False)
    code, text, err = run_explain(["--root", str(root), "--symbol", "MSFT"],
                                  clean_env(MARKETSIM_KRONOS_SAMPLE_COUNT="64"))
    assert code == 0, err
    row = next(line for line in text.splitlines() if line.startswith("MSFT "))
    assert row.split()[:4] == ["MSFT", "toto", "missing", "module"]
    assert "3072" in row.split() and "384" in row.split() and "64" in row.split()
    assert "\x1b[" not in text  # not a tty: plain text
    assert "DEFAULT_TOTO_NUM_SAMPLES = int(os.getenv('TOTO_NUM_SAMPLES', '3072'))" in text
    assert "validation = price[-7:]" in text


def test_hyperparams_option_explains_as_if_hyperparam_root_were_set(project, tmp_path):
    root = project("guide_shape.py")
    other = tmp_path / "other"
    (other / "toto").mkdir(parents=True)
    (other / "toto" / "ZZ.json").write_text('{"config": {"num_samples": 512, "samples_per_batch": 128}}')
    code, out, err = run_explain(["--root", str(root), "--hyperparams", str(other), "--json"], clean_env())
    assert code == 0, err
    document = json.loads(out)
    assert list(document["symbols"]) == ["ZZ"]
    assert document["symbols"]["ZZ"]["toto"]["runtime"]["num_samples"] == 512


def test_explain_runs_without_numpy_scipy_torch_or_libcst(project):
    """The core must work without the heavy extras: block their import and run the command."""
    import subprocess
    import sys

    root = project("guide_shape.py")
    script = ("import sys\n"
              "for name in ('numpy', 'scipy', 'torch', 'libcst'):\n"
              "    sys.modules[name] = None\n"
              "from migrator.cli import main\n"
              "main(['explain', '--root', sys.argv[1], '--json'])\n")
    done = subprocess.run([sys.executable, "-c", script, str(root)], env=clean_env(),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["symbols"]["AAPL"]["toto"]["runtime"]["num_samples"] == 128


def test_on_a_tty_the_tables_have_bold_headers_and_aligned_columns(project):
    from migrator.explain.report import render_text
    from migrator.explain.resolve import explain

    root = project("guide_shape.py")
    text = render_text(explain(root, root / "backtest_test3_inline.py", {}), tty=True)
    header = next(line for line in text.splitlines() if "SYMBOL" in line)
    assert header.startswith("\x1b[1mSYMBOL") and header.endswith("\x1b[0m")
    rows = [line for line in text.splitlines() if line.split(" ")[0] in ("AAPL", "BTCUSD", "MSFT")]
    column = header.index("NUM_SAMPLES") - len("\x1b[1m")
    assert len(rows) == 3 and all(row[column - 1] == " " and row[column] != " " for row in rows)


def test_text_shows_paths_under_the_root_relative_and_json_absolute(project):
    root = project("guide_shape.py")
    text = run_explain(["--root", str(root), "--symbol", "AAPL"], clean_env())[1]
    assert "backtest: backtest_test3_inline.py\n" in text
    assert str(root) not in text
    document = json.loads(run_explain(["--root", str(root), "--symbol", "AAPL", "--json"], clean_env())[1])
    assert document["backtest"] == str(root / "backtest_test3_inline.py")
