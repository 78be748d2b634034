"""The built wheel ships the schemas as migrator.schemas and its `migrate` validates files with them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path


REPO = Path(__file__).resolve().parents[2]


def test_wheel_installs_and_validates_with_its_bundled_schemas(tmp_path):
    # Built from a copy: setuptools leaves build/ and *.egg-info in the source tree.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("migrator", "schemas"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(source)], check=True, cwd=tmp_path, timeout=300)
    [wheel] = wheels.glob("migrate-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {"migrator/schemas/toto.schema.json", "migrator/schemas/kronos.schema.json",
            "migrator/schemas/chronos2.schema.json", "migrator/configs/models/chronos2.py",
            "migrator/schemas/__init__.py"} <= set(names)

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
                    str(wheel)], check=True, timeout=300)
    # Dependencies (click, jsonschema) from the dev venv: a .pth line only extends sys.path, so
    # the dev venv's editable finder for `migrator` is not loaded and the wheel's copy is used.
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "dev-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    project = tmp_path / "project"
    shutil.copytree(REPO / "hyperparams", project / "hyperparams")
    msft = project / "hyperparams" / "toto" / "MSFT.json"
    msft.write_bytes(msft.read_bytes().replace(b'"num_samples": 1024', b'"num_samples": "many"'))
    where = subprocess.run(
        [str(python), "-c", "import migrator.configs.schemas as s, importlib.resources as r; "
                            "print(r.files('migrator.schemas')); print(s.load_schema('kronos')['$id'])"],
        check=True, capture_output=True, text=True, cwd=project).stdout.splitlines()
    assert where[0].startswith(str(site)), where  # the installed copy, not the checkout
    assert where[1].endswith("kronos.schema.json")

    result = subprocess.run([str(venv / "bin" / "migrate"), "toto", "--samples", "32", "--batch", "16",
                             "--dry-run", "--json"], capture_output=True, text=True, cwd=project, timeout=120)
    assert result.returncode == 2, result.stderr
    assert json.loads(result.stdout)["invalid"] == [
        "hyperparams/toto/MSFT.json: $.config.num_samples: 'many' is not of type 'integer'"]
