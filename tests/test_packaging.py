"""The wheel installs one namespace, `pmkt`: it works in a clean virtual environment next to another
project's top-level `libs` and `jobs` packages, which it neither replaces nor imports."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    pip = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(ROOT)]
    subprocess.run(pip, check=True, capture_output=True, text=True)
    [built] = out.glob("pmkt-*.whl")
    return built


def test_the_wheel_holds_only_the_pmkt_namespace(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.startswith("pmkt-")}
    assert tops == {"pmkt"}
    assert {"pmkt/jobs/cli.py", "pmkt/libs/config/__init__.py", "pmkt/libs/resources/log4j2.properties"} <= set(names)
    [entry] = [n for n in names if n.endswith("entry_points.txt")]
    assert "pmkt = pmkt.jobs.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installs_next_to_another_projects_libs_and_the_cli_works(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    [site] = (venv / "lib").glob("python3*/site-packages")
    # The dependencies (pyspark, delta, mlflow, ...) come from this environment's folder as a plain path entry:
    # its .pth files, among them this checkout's editable install of pmkt, are not run.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for other in ("libs", "jobs"):  # another project's packages with the names of our source folders
        (site / other).mkdir()
        (site / other / "__init__.py").write_text(f"OWNER = 'another project ({other})'\n")
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
    subprocess.run([*install, "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True, text=True)

    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import libs, jobs, pmkt.libs.config as c, pmkt.jobs.cli as cli; "
            "print(libs.OWNER, jobs.OWNER, c.__file__, cli.__file__, sep='|')",
        ],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    libs_owner, jobs_owner, config_file, cli_file = found.split("|")
    assert (libs_owner, jobs_owner) == ("another project (libs)", "another project (jobs)")
    assert config_file.startswith(str(site)) and cli_file.startswith(str(site))  # the wheel's, not the checkout's

    helped = subprocess.run([str(venv / "bin" / "pmkt"), "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert helped.returncode == 0, helped.stderr
    assert "models" in helped.stdout and "recommend" in helped.stdout
    unknown = subprocess.run([str(venv / "bin" / "pmkt"), "nonsense"], cwd=tmp_path, capture_output=True, text=True)
    assert unknown.returncode == 2 and "unknown job 'nonsense'" in unknown.stderr
