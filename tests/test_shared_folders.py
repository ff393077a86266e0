"""A second local user with write access to a shared project folder, tried as that user would
(issue 25): staging folders hijacked, saved models forged, files swapped in, keys and homes
planted. The attacker is a real process, run as another user (``nobody``) when the tests run as
root."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import iris_exports

from autonn import load
from autonn.errors import ModelFileError
from autonn.export import signing
from autonn.export.integrity import private_home
from autonn.search.exporting import export_model

NOBODY = 65534


def as_attacker() -> None:
    """Run the child as another user where the tests can (root), else as this one."""
    if os.getuid() == 0:
        os.setgid(NOBODY)
        os.setuid(NOBODY)


def attacker(script: str, *args: str) -> subprocess.Popen:
    """A process running ``script`` with the system Python (readable by every user)."""
    python = shutil.which("python3", path="/usr/bin:/bin") or sys.executable
    return subprocess.Popen([python, "-c", script, *args], preexec_fn=as_attacker,
                            stdout=subprocess.PIPE, text=True)


@pytest.fixture
def shared_folder():
    """A project folder every local user may write, without the sticky bit."""
    folder = Path(tempfile.mkdtemp(prefix="autonn-shared-"))
    folder.chmod(0o777)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def study_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("shared")
    iris_exports(root, ())
    return root


HIJACKER = """
import os, sys, time
folder, bait, victim, outputs = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
print("ready", flush=True)
stolen, end = 0, time.monotonic() + 120
while time.monotonic() < end:
    for entry in os.listdir(folder):
        if entry in outputs or entry.startswith("stolen-"):
            continue
        try:  # the victim's staging folder: move it away, put ours with a link in its place
            os.rename(os.path.join(folder, entry), os.path.join(folder, f"stolen-{stolen}"))
            stolen += 1
            os.mkdir(os.path.join(folder, entry), 0o777)
            os.symlink(victim, os.path.join(folder, entry, bait))
        except OSError:
            pass
"""


def test_a_staging_folder_in_a_shared_folder_cannot_be_hijacked(study_root, shared_folder,
                                                              tmp_path):
    """The attacker renames away every new entry of the shared folder but the exports (which it
    could swap at any time; their signatures tell) and plants a folder with a link to the
    victim's private file in its place; each export still lands whole and signed,
    and the private file is untouched."""
    secret = tmp_path / "private.txt"
    secret.write_text("mine")
    secret.chmod(0o600)
    formats = ("onnx", "mlflow", "state_dict")
    process = attacker(HIJACKER, str(shared_folder), "model.onnx", str(secret),
                       *(f"model.{fmt}" for fmt in formats))
    assert process.stdout.readline().strip() == "ready"
    try:
        for fmt in formats:
            out = shared_folder / f"model.{fmt}"
            with pytest.warns(UserWarning, match="other users can rename and replace"):
                done = export_model(fmt, out, study="iris", storage=journal(study_root),
                                    force=True)
            assert load(done.path).provenance == "verified"
    finally:
        process.kill()
    assert secret.read_text() == "mine" and stat.S_IMODE(secret.stat().st_mode) == 0o600
    home = private_home()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE(signing.key_path().stat().st_mode) == 0o600


SWAPPER = """
import os, shutil, sys, time
folder, marker = sys.argv[1], sys.argv[2]
print("ready", flush=True)
swapped, end = 0, time.monotonic() + 120
while time.monotonic() < end:
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        if entry.startswith(("stolen-", "mine-")) or not os.path.isdir(path):
            continue
        try:  # any folder autonn writes or lands: put our copy, with our bytes, in its place
            mine = os.path.join(folder, f"mine-{swapped}")
            shutil.copytree(path, mine)
            with open(os.path.join(mine, "MLmodel"), "a") as model:
                model.write(marker)
            os.rename(path, os.path.join(folder, f"stolen-{swapped}"))
            os.rename(mine, path)
            swapped += 1
        except OSError:
            pass
"""


def test_the_victims_key_never_signs_bytes_swapped_in_during_an_mlflow_export(study_root,
                                                                             shared_folder):
    """The attacker copies every folder that appears in the shared folder, adds its own line to
    the copy and swaps it in, during and after each export: an export that loads as verified
    holds none of the attacker's bytes; one the attacker replaced is refused (item 2a)."""
    marker = "\n# written by the attacker\n"
    verified = refused = 0
    for _ in range(3):
        process = attacker(SWAPPER, str(shared_folder), marker)
        assert process.stdout.readline().strip() == "ready"
        out = shared_folder / "model.mlflow"
        before = swaps(shared_folder)
        try:
            with pytest.warns(UserWarning, match="other users can rename and replace"):
                export_model("mlflow", out, study="iris", storage=journal(study_root), force=True)
            end = time.monotonic() + 10  # the landed export too gets swapped for a copy
            while swaps(shared_folder) == before and time.monotonic() < end:
                time.sleep(0.05)
        finally:  # stopped before the check, so the folder checked is the folder loaded
            process.kill()
            process.wait()
        try:
            model = load(out)
        except ModelFileError as error:
            assert "changed" in str(error) or "signature" in str(error), error
            refused += 1
        else:
            assert model.provenance == "verified"
            assert marker.strip() not in (out / "MLmodel").read_text()
            verified += 1
    assert refused >= 1 and refused + verified == 3  # the swaps happened, and were caught


def swaps(folder: Path) -> int:
    return sum(entry.name.startswith("stolen-") for entry in folder.iterdir())


def saved_model(study_root: Path) -> Path:
    """The iris study's model as a state_dict export (made once per module)."""
    model = study_root / "model.safetensors"
    if not model.exists():
        export_model("state_dict", model, study="iris", storage=journal(study_root))
    return model


def journal(study_root: Path) -> str:
    return str(study_root / "mlruns" / "optuna.journal")


def iris_rows(folder: Path) -> None:
    """One iris row to predict, as ``folder/rows.csv``."""
    (folder / "rows.csv").write_text("sepal length (cm),sepal width (cm),petal length (cm),"
                                     "petal width (cm)\n5.1,3.5,1.4,0.2\n")


def autonn_cli(*args: str, home: Path, cwd: Path, timeout: int = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "autonn", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, "AUTONN_HOME": str(home)})


@pytest.mark.parametrize("plant", ["fifo", "folder", "open home"])
def test_a_planted_key_or_an_open_home_is_one_line_not_a_hang(study_root, tmp_path, plant):
    """A FIFO or a folder where the key belongs, or a home others can write: every command says
    so in one line and exits 2 (a FIFO used to hang it, a folder raised a traceback)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    if plant == "fifo":
        os.mkfifo(home / "signing.key", 0o600)
    elif plant == "folder":
        (home / "signing.key").mkdir(mode=0o700)
    else:
        home.chmod(0o777)
    model = saved_model(study_root)
    iris_rows(tmp_path)
    proc = autonn_cli("predict", "--model", str(model), "--input", "rows.csv", home=home,
                      cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    expected = {"fifo": "signing key is not a plain file", "folder": "not a plain file",
                "open home": "can be written by other users"}[plant]
    assert expected in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_predict_replaces_only_predictions_it_wrote_unless_forced(study_root, tmp_path):
    model = saved_model(study_root)
    iris_rows(tmp_path)
    notes = tmp_path / "notes.csv"
    notes.write_text("someone's work\n")
    home = Path(os.environ["AUTONN_HOME"])
    args = ("predict", "--model", str(model), "--input", "rows.csv", "--output", "notes.csv")
    refused = autonn_cli(*args, home=home, cwd=tmp_path)
    assert refused.returncode == 2 and "autonn did not write it" in refused.stderr
    assert notes.read_text() == "someone's work\n"
    assert autonn_cli(*args, "--force", home=home, cwd=tmp_path).returncode == 0
    assert notes.read_text().startswith("target") or "setosa" in notes.read_text()
    again = autonn_cli(*args, home=home, cwd=tmp_path)  # its own predictions: replaced
    assert again.returncode == 0, again.stderr


def test_a_signature_binds_the_study_trial_and_time_and_can_be_checked(study_root, tmp_path):
    """Two of your own signed exports, one swapped in for the other: --verbose tells them apart
    and --expect-study refuses the wrong one."""
    storage = journal(study_root)
    first = export_model("onnx", tmp_path / "a.onnx", study="iris", storage=storage)
    second = export_model("onnx", tmp_path / "b.onnx", study="iris", storage=storage, trial=0)
    iris_rows(tmp_path)
    home = Path(os.environ["AUTONN_HOME"])
    notes = []
    for done in (first, second):
        proc = autonn_cli("predict", "--model", str(done.path), "--input", "rows.csv",
                          "--verbose", "--expect-study", "iris", home=home, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        notes.append(proc.stderr)
        assert "verified" in proc.stderr and "study 'iris'" in proc.stderr
        assert "exported 20" in proc.stderr
    assert "trial 0" in notes[1] and notes[0] != notes[1]
    wrong = autonn_cli("predict", "--model", str(first.path), "--input", "rows.csv",
                       "--expect-study", "churn", home=home, cwd=tmp_path)
    assert wrong.returncode == 2 and "not of 'churn'" in wrong.stderr


def test_a_model_file_is_bounded_before_its_body_is_read(tmp_path):
    """A sparse 2 GiB file behind a small header, a 20 MB header and a 100000-deep one: each is
    refused from its header, without reading the rest or a raw RecursionError."""
    import json
    import resource

    sparse = tmp_path / "sparse.safetensors"
    header = json.dumps({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}).encode()
    with sparse.open("wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header)
        fh.truncate(2 << 30)
    deep = tmp_path / "deep.safetensors"
    nested = b"{\"a\":" + b"[" * 100_000 + b"]" * 100_000 + b"}"
    deep.write_bytes(len(nested).to_bytes(8, "little") + nested)
    wide = tmp_path / "wide.safetensors"
    wide.write_bytes((20 << 20).to_bytes(8, "little") + b"{" + b" " * (20 << 20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for path, reason in [(sparse, "bytes after the last tensor"), (deep, "nested too deep"),
                         (wide, "at most")]:
        with pytest.raises(ModelFileError, match=reason):
            load(path, trust_model=True)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 200_000  # not the 2 GiB body


def test_bytecode_in_an_mlflow_export_must_be_its_signed_sources_own(study_root, tmp_path):
    """Served once by MLflow (Python writes __pycache__), the export still verifies; a hostile
    .pyc planted beside the loader, or a symlinked __pycache__, is refused (MLflow would run
    them under a "verified" signature)."""
    import py_compile

    model = export_model("mlflow", tmp_path / "m.mlflow", study="iris",
                         storage=journal(study_root)).path
    served = subprocess.run([sys.executable, "-c", "import mlflow, sys; "
                             "mlflow.pyfunc.load_model(sys.argv[1])", str(model)],
                            capture_output=True, text=True, timeout=300,
                            env={k: v for k, v in os.environ.items()
                                 if k != "PYTHONDONTWRITEBYTECODE"})  # as a user's Python writes
    assert served.returncode == 0, served.stderr[-2000:]
    cached = sorted(model.rglob("__pycache__/*.pyc"))
    assert cached and load(model).provenance == "verified"
    loader = next(p for p in cached if p.name.startswith("pyfunc."))
    hostile = tmp_path / "pyfunc.py"
    hostile.write_text("raise SystemExit('hostile code ran')\n")
    py_compile.compile(str(hostile), cfile=str(loader), doraise=True)
    with pytest.raises(ModelFileError, match="not the compiled form of a signed source"):
        load(model)
    shutil.rmtree(loader.parent)
    os.symlink(tmp_path, loader.parent)
    with pytest.raises(ModelFileError, match="symbolic link"):
        load(model)


def test_a_small_trusted_file_cannot_ask_for_gibibytes_per_row(tmp_path):
    """A 2 MB cnn file of wide 1x1 convolutions over a 256 x 256 view: its forward pass would
    hold GiBs for one row; refused, even trusted, before anything runs."""
    import resource

    from autonn.data.features import identity_encoder
    from autonn.export import state_dict
    from autonn.export.bundle import Bundle, Member
    from autonn.training.weights import state_tensors

    params = {"family": "cnn", "conv_blocks": 2, "channels_0": 2048, "channels_1": 4,
              "kernel_size": 1, "pool": "max", "n_layers": 1, "width_0": 4,
              "activation": "relu", "init": "he_uniform", "norm": "none", "dropout": 0.0}
    columns = [f"p{i}" for i in range(256 * 256)]
    bundle = Bundle("multiclass", params, 2, "softmax", identity_encoder(columns), [0, 1],
                    input_shape=[1, 256, 256])
    path = tmp_path / "wide.safetensors"
    network = bundle._assemble([Member(params, 2, "softmax")])  # weights only: a few MB
    state_dict.write(bundle.with_tensors(state_tensors(network)), path)
    assert path.stat().st_size < 4 << 20
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelFileError, match="GiB for each row"):
        load(path, trust_model=True)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000
