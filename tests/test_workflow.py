"""Checks of the GitHub Actions workflow, .github/workflows/book.yml, offline.

The workflow cannot run here, so it is checked statically: by actionlint (types of expressions,
`needs`, action inputs, deprecated action runtimes) and by the workflow JSON schema that
check-jsonschema vendors. Both run with a dead proxy, so any attempt to reach the network fails.
Each checker is also shown a broken copy of the workflow, which it must reject.
"""

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "book.yml"
DEAD_PROXY = "http://127.0.0.1:9"  # the discard port: any request through it is refused at once
PAGES_ACTIONS = ("actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages")
OFFLINE = {
    "HTTP_PROXY": DEAD_PROXY,
    "HTTPS_PROXY": DEAD_PROXY,
    "http_proxy": DEAD_PROXY,
    "https_proxy": DEAD_PROXY,
    "NO_PROXY": "",
    "no_proxy": "",
}


def executable(name):
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    assert found, f"{name} is not installed in the project environment (requirements.txt has it)"
    return found


def actionlint(path):
    # shellcheck and pyflakes are optional plug-ins of actionlint: off, so that the verdict does not
    # depend on what else a machine has installed.
    command = [executable("actionlint"), "-oneline", "-no-color", "-shellcheck=", "-pyflakes="]
    return run(command + [str(path)])


def check_jsonschema(path):
    command = [executable("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]
    return run(command + [str(path)])


def run(command):
    env = {**os.environ, **OFFLINE}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def load_workflow():
    workflow = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads the key `on` as True
    return workflow


def broken_copy(tmp_path, old, new):
    text = WORKFLOW.read_text(encoding="utf-8")
    assert old in text, f"the workflow no longer contains {old!r}: update this test"
    path = tmp_path / "book.yml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


def test_actionlint_accepts_the_workflow():
    result = actionlint(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflow_matches_the_github_workflow_schema():
    result = check_jsonschema(WORKFLOW)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("needs: test", "needs: tests", 'needs job "tests" which does not exist'),
        ("steps.deployment.outputs", "steps.deploy.outputs", 'property "deploy" is not defined'),
        ("refs/heads/main'", "refs/heads/main')", "[expression]"),
        ("actions/setup-python@v7", "actions/setup-python@v5", 'runtime "node20" is deprecated'),
    ],
    ids=["undefined-needs", "undefined-step", "bad-expression", "retired-runtime"],
)
def test_actionlint_rejects_a_broken_workflow(tmp_path, old, new, complaint):
    result = actionlint(broken_copy(tmp_path, old, new))
    assert result.returncode != 0, f"actionlint accepted a workflow with {new!r}"
    assert complaint in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("old", "new", "complaint"),
    [
        ("timeout-minutes:", "timeout-minute:", "'timeout-minute' was unexpected"),
        ("runs-on: ubuntu-24.04", "runs-on: 42", "42 is not of type 'string'"),
    ],
    ids=["unknown-key", "runs-on-not-a-string"],
)
def test_check_jsonschema_rejects_a_broken_workflow(tmp_path, old, new, complaint):
    result = check_jsonschema(broken_copy(tmp_path, old, new))
    assert result.returncode != 0, f"check-jsonschema accepted a workflow with {new!r}"
    assert complaint in result.stdout, result.stdout + result.stderr


def test_workflow_runs_on_push_and_pull_request():
    assert {"push", "pull_request"} <= set(load_workflow()["on"])


def test_workflow_runs_what_ci_runs():
    """The test job runs .ci/run, which must still run README's `make test`, browser required."""
    steps = load_workflow()["jobs"]["test"]["steps"]
    runs = [step for step in steps if step.get("run", "").strip() in (".ci/run", "bash .ci/run")]
    assert len(runs) == 1, f"no single step of the test job runs .ci/run: {steps}"
    assert runs[0].get("env", {}).get("XENT_REQUIRE_BROWSER") == "1"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "export XENT_REQUIRE_BROWSER=1" in ci
    assert ci[-1] == "make test", f".ci/run no longer ends with `make test`: {ci[-1]!r}"


def test_workflow_caches_pip_on_the_pinned_files():
    setup = next(
        step
        for step in load_workflow()["jobs"]["test"]["steps"]
        if step.get("uses", "").startswith("actions/setup-python@")
    )
    assert setup["with"]["python-version"] == "3.11"  # the Python of requirements/constraints.txt
    assert setup["with"]["cache"] == "pip"
    cached = setup["with"]["cache-dependency-path"].split()
    for path in cached:
        assert (ROOT / path).is_file(), f"the pip cache is keyed on a missing file {path}"
    assert {"requirements/constraints.txt", "requirements/requirements.txt"} <= set(cached)


def screenshots_folder():
    """SCREENSHOTS in tests/site/test_browser.py, as a path relative to the repository."""
    source = (ROOT / "tests" / "site" / "test_browser.py").read_text(encoding="utf-8")
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "SCREENSHOTS":
            parts = [n for n in ast.walk(node.value) if isinstance(n, ast.Constant)]
            return "/".join(n.value for n in sorted(parts, key=lambda n: n.col_offset))
    raise AssertionError("tests/site/test_browser.py no longer defines SCREENSHOTS")


def test_workflow_keeps_the_site_and_the_screenshots():
    uploads = {
        step["with"]["path"]: step
        for step in load_workflow()["jobs"]["test"]["steps"]
        if step.get("uses", "").startswith("actions/upload-artifact@")
    }
    assert set(uploads) == {"_build/html", screenshots_folder()}
    for step in uploads.values():
        assert step.get("if") == "always()", f"{step['name']!r} is skipped when a test fails"


def test_only_a_push_to_main_deploys_to_pages():
    workflow = load_workflow()
    assert workflow["permissions"] == {"contents": "read"}
    deploy = workflow["jobs"]["deploy"]
    condition = deploy["if"].replace('"', "'")
    assert "github.event_name == 'push'" in condition
    assert "github.ref == 'refs/heads/main'" in condition
    assert "||" not in condition, f"the deploy condition has an alternative: {condition}"
    assert deploy["needs"] in ("test", ["test"])
    assert deploy["permissions"] == {"pages": "write", "id-token": "write"}
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["environment"]["url"] == "${{ steps.deployment.outputs.page_url }}"
    assert deploy["concurrency"]["group"] == "pages"
    used = [step.get("uses", "").split("@")[0] for step in deploy["steps"]]
    for action in PAGES_ACTIONS:
        assert action in used, f"the deploy job does not use {action}"
    assert not any("pages" in step.get("uses", "") for step in workflow["jobs"]["test"]["steps"])


def test_deploy_publishes_the_site_the_tests_built():
    jobs = load_workflow()["jobs"]
    uploads = [step for step in jobs["test"]["steps"] if "with" in step]
    site = next(step for step in uploads if step["with"].get("path") == "_build/html")
    steps = {step.get("uses", "").split("@")[0]: step for step in jobs["deploy"]["steps"]}
    download = steps["actions/download-artifact"]["with"]
    assert download["name"] == site["with"]["name"]
    assert steps["actions/upload-pages-artifact"]["with"]["path"] == download["path"]
