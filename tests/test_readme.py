"""The README's examples work as written: every ```python block runs, and every ``oile-q`` line of
every ```sh block exits 0, in a fresh folder holding a copy of examples/ (```text blocks are
usage or recipes, not examples)."""

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"^```(\w+)\n(.*?)^```", README, re.S | re.M)
PYTHON = [code for lang, code in BLOCKS if lang == "python"]
COMMANDS = [
    line.strip()
    for lang, code in BLOCKS
    if lang == "sh"
    for line in code.splitlines()
    if line.strip().startswith("oile-q ")
]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_there_are_examples():
    assert len(PYTHON) >= 1 and len(COMMANDS) >= 8


@pytest.mark.parametrize("code", PYTHON, ids=[f"python{i}" for i in range(len(PYTHON))])
def test_python_block(code, folder):
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})


def test_command_lines_in_order(folder, capsys):
    """In the README's order (later lines use earlier lines' outputs: rerun, collect), through the
    console entry point oile_q.cli.main in this process."""
    from oile_q.cli import main

    for line in COMMANDS:
        rc = main(shlex.split(line)[1:])
        out = capsys.readouterr()
        assert rc == 0, (line, out.out[-2000:], out.err[-2000:])


def test_console_script_runs_a_readme_line(folder):
    """One line through the installed console script itself, as a user types it."""
    exe = Path(sys.executable).with_name("oile-q")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "oile_q.cli"]
    proc = subprocess.run(cmd + shlex.split(COMMANDS[1])[1:], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
