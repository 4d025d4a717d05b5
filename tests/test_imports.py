"""Honest imports: the contracts in pyproject.toml (`lint-imports`: the layers, no import circles),
our own modules imported at the top of a module (where a reader sees them), and every package shipped."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("model", "bot", "ui", "training")


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "lint-imports is not installed (pip install -e '.[dev]')"
    return subprocess.run([exe, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"})


def test_the_import_contracts_hold():
    """The layers, training's own, and no import circles (import-linter's acyclic_siblings contract,
    over every package at any depth; function-level imports count too)."""
    r = _lint_imports(ROOT)
    assert r.returncode == 0 and "0 broken" in r.stdout, r.stdout[-3000:] + r.stderr[-2000:]


def test_the_contracts_catch_a_reversed_layer_and_a_circle(tmp_path):
    """The same contracts over a copy of the packages' shape, where the model reaches into the bot
    and two training modules import each other (one of them inside a function)."""
    for pkg, body in {"model": "from bot import x\n", "bot": "from model import y\nx = 1\n",
                      "ui": "from bot import x\n", "training": "from model import y\n"}.items():
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text(body + ("y = 2\n" if pkg == "model" else ""))
    (tmp_path / "training" / "a.py").write_text("from training.b import z\n")
    (tmp_path / "training" / "b.py").write_text("def z():\n    from training.a import z as again\n    return again\n")
    (tmp_path / "pyproject.toml").write_text(_contracts_only())
    r = _lint_imports(tmp_path)
    assert r.returncode == 1 and "ui uses bot uses model BROKEN" in r.stdout, r.stdout[-3000:]
    assert "model -> bot" in r.stdout
    assert "no import circles BROKEN" in r.stdout and "No cycles are allowed in training" in r.stdout


def _contracts_only() -> str:
    text = (ROOT / "pyproject.toml").read_text()
    return text[text.index("[tool.importlinter]"):text.index("[tool.pytest.ini_options]")]


def _function_level_imports(path: Path, root: Path = ROOT) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []

    def walk(node, in_func: bool) -> None:
        for c in ast.iter_child_nodes(node):
            if in_func and isinstance(c, ast.ImportFrom) and c.level == 0 and c.module.split(".")[0] in OURS:
                out.append(f"{path.relative_to(root)}:{c.lineno}: {ast.unparse(c)}")
            if in_func and isinstance(c, ast.Import) and any(a.name.split(".")[0] in OURS for a in c.names):
                out.append(f"{path.relative_to(root)}:{c.lineno}: {ast.unparse(c)}")
            walk(c, in_func or isinstance(c, (ast.FunctionDef, ast.AsyncFunctionDef)))

    walk(tree, False)
    return out


def test_our_own_modules_are_imported_at_the_top():
    """Our modules are light (TensorFlow, Keras and Gradio stay inside the functions that need them),
    so a function-level import of one only hides an arrow from the reader."""
    hidden = [line for pkg in OURS for p in sorted((ROOT / pkg).rglob("*.py")) for line in _function_level_imports(p)]
    assert hidden == []


def test_the_check_sees_a_hidden_import(tmp_path):
    p = tmp_path / "probe.py"
    p.write_text("from model import EMOTIONS\n\n\ndef f():\n    import gradio\n    from bot.store import Store\n"
                 "    return Store, gradio, EMOTIONS\n")
    assert _function_level_imports(p, tmp_path) == ["probe.py:6: from bot.store import Store"]


@pytest.mark.parametrize("module", ["model", "bot", "bot.store", "ui.state", "bot.report"])
def test_importing_our_packages_stays_light(module):
    """Importing any of them loads neither TensorFlow, Keras nor Gradio (a CLI's --help, the store)."""
    code = (f"import sys, {module}; heavy = [m for m in ('tensorflow', 'keras', 'gradio') if m in sys.modules]; "
            "print(heavy); sys.exit(bool(heavy))")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]


def test_the_bot_package_names_load_on_first_use():
    import bot

    assert sorted(bot.__all__) == sorted(bot._HOME)
    for name in bot.__all__:
        assert getattr(bot, name).__module__ == bot._HOME[name]
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        bot.nothing  # noqa: B018


def test_every_package_is_shipped():
    """pyproject's package list names every folder of ours with an __init__.py (a `pip install .`,
    as in the Dockerfile, leaves out a package it does not name)."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts) for pkg in OURS for p in (ROOT / pkg).rglob("__init__.py")}
    assert found == listed
