"""A worker process ends as the ``autonn`` command does (``autonn.quick_exit``): the exit
handlers registered in its work run and its output arrives, but the interpreter does not tear
its modules down (about 1 s for torch and MLflow, which a search waited for before building its
final model). A worker that crashes exits as Python does, with its traceback."""

import os
import subprocess
import sys

import pytest

# A spawned child, as a search's workers are, whose command returns (0) or ends in SystemExit.
# An object that lives until the interpreter tears the child's modules down writes "torn down"
# from its finalizer: only a process that tears down writes it.
CHILD_PROBE = """
import atexit, multiprocessing, sys
from pathlib import Path

from autonn import quick_exit

OUT = Path({out!r})


class Witness:
    def __init__(self):
        self.path = str(OUT / "torn_down")  # the module's names may be gone when it ends

    def __del__(self, open=open):
        with open(self.path, "w") as f:
            f.write("torn down")


def command(code):
    global witness
    witness = Witness()  # a module global: it goes when the modules are torn down
    atexit.register(lambda: (OUT / "handler").write_text("ran"))
    print("x" * 200_000)  # more than a pipe's buffer: what is still buffered must reach it
    if code == 1:
        raise RuntimeError("a bug")
    if code:
        raise SystemExit(code)


def child(code, quick):
    if quick:  # as a search starts its workers: workers._enter, its work this command
        import autonn.search.worker_process as worker_process
        from autonn.search import workers

        worker_process.run_worker = command
        workers._enter(code)
    else:
        command(code)


if __name__ == "__main__":
    process = multiprocessing.get_context("spawn").Process(
        target=child, args=({code}, {quick}))
    process.start()
    process.join()
    print("exit", process.exitcode)
"""


@pytest.mark.parametrize("code", [0, 143, 1])
def test_a_spawned_worker_exits_with_its_status_after_its_handlers_without_tearing_down(
        tmp_path, code):
    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}  # as by default
    results = {}
    for quick in (False, True):  # Python's own exit first: the witness shows it tears down
        out = tmp_path / str(quick)
        out.mkdir()
        probe = tmp_path / f"probe_{quick}.py"
        probe.write_text(CHILD_PROBE.format(out=str(out), code=code, quick=quick))
        done = subprocess.run([sys.executable, str(probe)], capture_output=True, text=True,
                              timeout=300, env=buffered)
        assert done.returncode == 0, done.stderr
        assert done.stdout == "x" * 200_000 + f"\nexit {code}\n"
        assert (out / "handler").read_text() == "ran"
        assert ("RuntimeError: a bug" in done.stderr) == (code == 1)
        results[quick] = (out / "torn_down").exists()
    # a crash is shown with its traceback and ends as Python ends, teardown and all
    assert results == {False: True, True: code == 1}
