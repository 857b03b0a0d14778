"""The generated stubs match the protos, and the protos pass `buf lint`."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_generated_stubs_are_not_stale() -> None:
    result = subprocess.run([sys.executable, "-m", "svd.codegen", "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_protos_pass_buf_lint() -> None:
    buf = shutil.which("buf") or str(Path(sys.executable).parent / "buf")
    result = subprocess.run([buf, "lint"], cwd=REPO / "proto", capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
