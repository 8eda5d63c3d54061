"""SIGTERM stops a stage like Ctrl-C (exit 130, "interrupted") from its first second on.

A stage's handler is installed by its ``main()``; before that the stage's modules import for
seconds (scikit-learn for evaluate, TensorFlow for train), and a SIGTERM then killed it with the
bare 143. The signal is sent while those modules are still loading: once the process has mapped
the library's shared objects (read from /proc/<pid>/maps), before ``main()`` can run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def loading(pid: int, library: str) -> bool:
    try:
        return library in Path(f"/proc/{pid}/maps").read_text()
    except OSError:
        return False


def signalled_while_loading(argv: list[str], library: str) -> tuple[int, str] | None:
    """Start ``argv``, send SIGTERM once it maps ``library``: (exit code, stderr), or None when
    it finished first (a loaded machine can miss the window; the caller tries again)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not loading(proc.pid, library):
            if proc.poll() is not None:
                proc.communicate()
                return None
            assert time.monotonic() < deadline, f"{library} never loaded"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return proc.returncode, err


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads /proc/<pid>/maps")
@pytest.mark.parametrize(
    ("stage", "library"), [("evaluate", "/pandas/"), ("train", "/tensorflow/")]
)
def test_sigterm_while_the_stage_still_imports_exits_130(
    tmp_path: Path, stage: str, library: str
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("model: {name_or_path: x}\ningest: {files: [a.xlsx]}\n", encoding="utf-8")
    argv = [sys.executable, "-m", f"pipeline.{stage}", "--config", str(config)]
    for _ in range(5):
        if (result := signalled_while_loading(argv, library)) is not None:
            break
    assert result is not None, "the stage never ran long enough to be signalled"
    code, err = result
    assert code == 130, err
    assert err.rstrip().endswith("interrupted")
    assert "Traceback" not in err
