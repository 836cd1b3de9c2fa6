"""A notebook downloaded from the site can run: the site serves xent and its pinned requirements.

Checks the built site in _build/html (run `make book` or `make test-build` first): the landing
page links to a wheel and a requirements file that exist, the wheel holds the package at the
version the repository has, and the requirements pin what the notebooks import.
"""

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"



def landing_links():
    if not (SITE / "intro.html").is_file():
        pytest.fail("no built site in _build/html: run `make book` or `make test-build` first")
    html = (SITE / "intro.html").read_text(encoding="utf-8")
    return re.findall(r'href="(_downloads/xent/[^"]+)"', html)


def test_landing_page_links_to_files_the_site_has():
    links = landing_links()
    assert any(link.endswith(".whl") for link in links), f"no wheel linked: {links}"
    assert any(link.endswith("requirements.txt") for link in links), f"no requirements: {links}"
    for link in links:
        assert (SITE / link).is_file(), f"the landing page links to a missing file: {link}"


def test_wheel_installs_and_imports(tmp_path):
    import xent

    (wheel,) = [SITE / link for link in landing_links() if link.endswith(".whl")]
    assert f"xent-{xent.__version__}-" in wheel.name, f"{wheel.name} is not {xent.__version__}"
    names = zipfile.ZipFile(wheel).namelist()
    sources = sorted(p.relative_to(ROOT / "code").as_posix()
                     for p in (ROOT / "code" / "xent").rglob("*.py"))
    assert sorted(n for n in names if n.endswith(".py")) == sources
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                    "--disable-pip-version-check", "--target", str(tmp_path), str(wheel)],
                   check=True)
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); import xent, xent.numpy, xent.torch; "
             "print(xent.__file__)")
    found = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True,
                           text=True, check=True).stdout
    assert found.startswith(str(tmp_path)), f"imported {found!r}, not the wheel's copy"


def test_requirements_pin_what_the_notebooks_import():
    (link,) = [link for link in landing_links() if link.endswith("requirements.txt")]
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$", (SITE / link).read_text(), re.M))
    constraints = dict(re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)$",
                                  (ROOT / "requirements" / "constraints.txt").read_text(), re.M))
    imported = set()
    for notebook in (ROOT / "chapters").glob("*.ipynb"):
        imported |= set(re.findall(r'"(?:import|from) ([a-z_]+)', notebook.read_text()))
    module_to_package = {"sklearn": "scikit-learn", "torch": "torch", "numpy": "numpy",
                         "scipy": "scipy", "matplotlib": "matplotlib", "mpmath": "mpmath"}
    needed = {module_to_package[m] for m in imported if m in module_to_package}
    assert needed <= set(pins), f"requirements.txt lacks {needed - set(pins)}"
    for name, version in pins.items():
        assert constraints.get(name) == version, f"{name}=={version} is not the course's pin"
