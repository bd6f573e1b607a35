import tomllib

import yaml


def test_environment_yml_and_pyproject_name_the_same_pins(root):
    project = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    pip_deps = set(project["dependencies"]) | set(project["optional-dependencies"]["dev"])
    env = yaml.safe_load((root / "environment.yml").read_text(encoding="utf-8"))
    (pip_section,) = [d for d in env["dependencies"] if isinstance(d, dict)]
    conda_deps = {d for d in pip_section["pip"] if not d.startswith(("-", "--"))}
    assert conda_deps == pip_deps
    assert all("==" in d for d in pip_deps), "chaque dépendance est épinglée (versions testées ensemble)"
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python == ["python=3.11"]


def test_ci_runs_the_readme_test_command(root):
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert "bin/course test" in readme
    assert "exec bin/course test" in (root / ".ci" / "run").read_text(encoding="utf-8")
