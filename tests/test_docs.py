"""The docs a newcomer reads: the README's first screen, every page linked, links that resolve, the
legal text from its one home, the model card as its JSON gives it, and every command, flag, make
target and environment variable the docs name existing in the code."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

from model import card_markdown
from bot import legal

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
ALL = [ROOT / "README.md", *PAGES]


def test_the_readme_first_screen_is_short_and_links_every_page():
    text = (ROOT / "README.md").read_text()
    assert len(text.splitlines()) < 60
    for page in PAGES:
        assert f"](docs/{page.name})" in text, f"README does not link {page.name}"
    assert {p.name for p in PAGES} >= {"teacher.md", "admin.md", "privacy.md", "model-card.md", "benchmarks.md",
                                       "architecture.md", "training.md", "testing.md"}


def _links(path: Path) -> list[str]:
    return [m.group(1) for m in re.finditer(r"\]\(([^)\s]+)\)", path.read_text())]


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_every_relative_link_resolves(path):
    broken = []
    for link in _links(path):
        if re.match(r"[a-z]+:", link) or link.startswith("#"):
            continue
        target = (path.parent / link.split("#")[0]).resolve()
        if not target.exists():
            broken.append(link)
    assert broken == []


def test_the_legal_notice_has_one_home():
    """docs/privacy.md holds it; the app and the report read it from there (`bot.legal`), and the
    README's copy is word for word the same."""
    notice = legal.section("notice")
    assert "article 5(1)(f)" in notice and "informed consent" in notice
    readme = (ROOT / "README.md").read_text()
    quoted = " ".join(line.lstrip("> ").strip() for line in readme.splitlines() if line.startswith(">"))
    assert quoted.replace("**Legal notice.** ", "") == notice
    code = [p for pkg in ("model", "bot", "ui", "training") for p in (ROOT / pkg).rglob("*.py")]
    assert not [p.name for p in code if "5(1)(f)" in p.read_text()], "the legal text is written out in code"


def test_a_missing_privacy_page_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("CLASSMOOD_DOCS", str(tmp_path))
    legal.section.cache_clear()
    try:
        with pytest.raises(RuntimeError, match="legal notice.*CLASSMOOD_DOCS"):
            legal.section("notice")
        (tmp_path / "privacy.md").write_text("# no markers\n")
        with pytest.raises(RuntimeError, match="no '<!-- app:notice -->' section"):
            legal.section("notice")
    finally:
        legal.section.cache_clear()


def test_the_model_card_page_is_what_the_card_gives(tmp_path):
    assert card_markdown.main(["--check"]) == 0, "docs/model-card.md is stale: run make docs"
    stale = tmp_path / "model-card.md"
    stale.write_text(card_markdown.DEFAULT_OUT.read_text().replace("69.3%", "71.0%"))
    assert card_markdown.main(["--check", "--out", str(stale)]) == 1


def test_the_model_card_command_refuses_bad_input_in_one_line(tmp_path, capsys):
    weights = tmp_path / "m.keras"
    assert card_markdown.main([str(weights), "--out", str(tmp_path / "o.md")]) == 2  # no card beside it
    assert "has no model card beside it" in capsys.readouterr().err
    for text in ("", "{bad", "[]"):  # empty, corrupt, not a card
        (tmp_path / "m.json").write_text(text)
        assert card_markdown.main([str(weights), "--out", str(tmp_path / "o.md")]) == 2
        err = capsys.readouterr().err.strip()
        assert "m.json: not a readable model card" in err and len(err.splitlines()) == 1
    (tmp_path / "m.json").write_text(card_markdown.DEFAULT_WEIGHTS.with_suffix(".json").read_text())
    assert card_markdown.main([str(weights), "--out", str(tmp_path / "no" / "o.md")]) == 2
    assert "No such file or directory" in capsys.readouterr().err and not (tmp_path / "no").exists()


# --- commands and flags --------------------------------------------------------------------------

def _code(path: Path) -> list[str]:
    """The inline code spans and the lines of the fenced blocks of a page."""
    text = path.read_text()
    blocks = re.findall(r"```[a-z]*\n(.*?)```", text, re.S)
    rest = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    lines = [line for b in blocks for line in _joined(b)]
    return lines + re.findall(r"`([^`\n]+)`", rest)


def _joined(block: str) -> list[str]:
    return block.replace("\\\n", " ").splitlines()


OTHER_TOOLS = r"\b(dask|createuser|createdb|docker|pip|pytest|sudo|apt-get|chromium|psql|tesseract)\b"


def _scripts() -> dict[str, Path]:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    return {name: ROOT / (target.split(":")[0].replace(".", "/") + ".py") for name, target in scripts.items()}


def _flags_of(source: Path, follow: bool = True) -> set[str]:
    """The options a module's argparse parsers define (`add_argument("--x", ...)`), with those our
    modules it imports define for it (`bot.postclass.add_arguments`: the options every command that
    ends sessions shares)."""
    flags = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
            flags |= {a.value for a in node.args if isinstance(a, ast.Constant) and str(a.value).startswith("-")}
        if follow and isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("bot", "ui", "model"):
            if any(alias.name == "add_arguments" for alias in node.names):
                flags |= _flags_of(ROOT / (node.module.replace(".", "/") + ".py"), follow=False)
    return flags


def _commands(span: str):
    """(command, its source file, the flags named after it) for each command in a code span."""
    scripts = _scripts()
    pattern = r"(classmood-[a-z]+|python -m [a-z_.]+|(?:python )?bench/[a-z_]+\.py|make [a-z-]+)"
    parts = re.split(pattern, span)
    for i in range(1, len(parts), 2):
        cmd, after = parts[i], parts[i + 1] if i + 1 < len(parts) else ""
        after = re.split(r"(?<!\\)\||[;&]|\b(?:then|or)\b", after)[0]
        flags = set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", after))
        if cmd.startswith("classmood-"):
            yield cmd, scripts.get(cmd), flags
        elif cmd.startswith("python -m "):
            yield cmd, ROOT / (cmd.split()[-1].replace(".", "/") + ".py"), flags
        elif cmd.startswith("make "):
            yield cmd, None, set()
        else:
            yield cmd, ROOT / cmd.split()[-1], flags


def test_every_command_flag_and_make_target_the_docs_name_exists():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    missing = []
    for page in ALL:
        for span in _code(page):
            for cmd, source, flags in _commands(span):
                if cmd.startswith("make "):
                    if cmd.split()[1] not in targets:
                        missing.append(f"{page.name}: {cmd}")
                    continue
                if source is None or not source.is_file():
                    missing.append(f"{page.name}: {cmd} (no such command)")
                    continue
                known = _flags_of(source) | {"--help"}
                missing += [f"{page.name}: {cmd} {f}" for f in sorted(flags - known)]
    assert missing == []


def test_every_flag_the_docs_name_alone_is_some_command_s():
    """A flag in the prose (`--keep-faces`) belongs to one of our commands or benches."""
    sources = [*_scripts().values(), *(ROOT / "training").glob("*.py"), *(ROOT / "model").glob("*.py"),
               *(ROOT / "bench").glob("*.py")]
    known = set().union(*(_flags_of(s) for s in sources)) | {"--help"}
    ours = [span for page in ALL for span in _code(page) if not re.search(OTHER_TOOLS, span)]
    named = {f for span in ours for f in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", span)}
    assert named and sorted(named - known) == []


def test_the_check_catches_a_flag_that_does_not_exist():
    found = list(_commands("classmood-bot --interval 5 [--a \\| --region 1] --no-such-flag | classmood-ui --port 1"))
    bot = found[0]
    assert bot[0] == "classmood-bot" and bot[2] == {"--interval", "--a", "--region", "--no-such-flag"}
    assert "--no-such-flag" not in _flags_of(bot[1]) and "--interval" in _flags_of(bot[1])
    assert found[1][2] == {"--port"}


def test_every_environment_variable_the_docs_name_is_read_somewhere():
    code = "\n".join(p.read_text() for pkg in ("model", "bot", "ui", "training", "bench")
                     for p in (ROOT / pkg).rglob("*.py"))
    code += (ROOT / "Dockerfile").read_text() + (ROOT / "Makefile").read_text()
    named = {v for page in ALL for v in re.findall(r"\bCLASSMOOD_[A-Z_]+\b", page.read_text())}
    assert named and not [v for v in sorted(named) if v not in code]
