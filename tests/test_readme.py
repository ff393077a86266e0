"""The README's commands run as printed, one after another, in a fresh folder.

Trial counts are cut to 3 and epochs to 2 so the whole README runs in minutes; commands that need
what a fresh folder cannot have (a running UI, a PostgreSQL host, a tracking server, the reader's
own data files) are skipped and listed in ``SKIPPED``.
"""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SKIPPED = ("autonn ui", "postgresql://", "tracking-host", "--data ")


def readme_commands() -> list[str]:
    """Every ``autonn ...`` command of the README's bash blocks, in order."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", (ROOT / "README.md").read_text(), re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*$", "", line)  # a comment after the command
            commands += [part.strip() for part in line.split("&&")
                         if part.strip().startswith("autonn ")]
    return commands


def _small(argv: list[str]) -> list[str]:
    """The same command with a small study: 3 trials of at most 2 epochs."""
    out = []
    for i, arg in enumerate(argv):
        out.append("3" if i and argv[i - 1] == "--n-trials" else arg)
    if argv[0] == "search":
        out += ["--epochs", "2"] + ([] if "--n-trials" in argv else ["--n-trials", "3"])
    return out


def test_the_readme_lists_its_commands():
    commands = readme_commands()
    assert "autonn search --dataset digits --timeout 60" in commands  # the run command
    assert any(c.startswith("autonn export") for c in commands)
    assert any(c.startswith("autonn predict") for c in commands)


@pytest.mark.slow
def test_the_readme_commands_run_in_order_in_a_fresh_folder(tmp_path):
    shutil.copytree(ROOT / "experiments", tmp_path / "experiments")
    ran = 0
    for command in readme_commands():
        if any(marker in command for marker in SKIPPED):
            continue
        argv = _small(shlex.split(command)[1:])
        proc = subprocess.run([sys.executable, "-m", "autonn", *argv], cwd=tmp_path,
                              capture_output=True, text=True, timeout=900)
        output = proc.stdout + proc.stderr
        assert "exists with other settings" not in output, (command, output)
        assert proc.returncode == 0, (command, output)
        ran += 1
    assert ran >= 15
