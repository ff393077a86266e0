"""Model files against an attacker: swapped files, forged signatures and registrations, oversized
manifests and archives, and exports that would replace what autonn did not write (issue 12)."""

import io
import os
import resource
import shutil
import stat
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from click.testing import CliRunner
from conftest import iris_exports, working_dir
from safetensors.torch import save_file

from autonn import load
from autonn.cli import main
from autonn.errors import AutonnError, ModelFileError
from autonn.export import archives, signing, state_dict
from autonn.export.formats import FORMATS
from autonn.export.integrity import autonn_home, digest, sha256
from autonn.export.staging import staged
from autonn.search.exporting import export_model

LOADS = 200
RACE_SECONDS = 120


class Hostile(torch.nn.Module):
    """TorchScript whose loading runs its own code (``__setstate__``) and answers 42."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(4, 3))

    def forward(self, x):
        return x @ self.weight + 42.0

    @torch.jit.export
    def __getstate__(self):
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, bool]):
        raise RuntimeError("hostile code ran")


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("attacks")
    paths = iris_exports(root, ("state_dict", "onnx", "torchscript", "exported_program", "mlflow"))
    rows = pd.DataFrame([[5.1, 3.5, 1.4, 0.2]], columns=[
        "sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"])
    return root, paths, rows


def hostile_archive(own: bytes, path) -> None:
    """A hostile TorchScript archive dressed as ``own``: its manifest and its signature."""
    with zipfile.ZipFile(io.BytesIO(own)) as archive:
        stored = next(archive.read(n) for n in archive.namelist() if n.endswith("extra/autonn.json"))
    buffer = io.BytesIO()
    torch.jit.save(torch.jit.script(Hostile()), buffer, _extra_files={"autonn.json": stored})
    _, signature = archives.detach(own)
    path.write_bytes(archives.attach(buffer.getvalue(), signature))


FLIPPER = """
import os, sys
link, targets = sys.argv[1], sys.argv[2:]
tmp = link + ".tmp"
while True:
    for target in targets:
        os.symlink(target, tmp)
        os.replace(tmp, link)
"""


def flipping(link, *targets):
    """An attacker process pointing ``link`` at each of ``targets`` in turn, as fast as it can
    (a process, not a thread: the interpreter lock would keep a thread in step with the loads)."""
    process = subprocess.Popen([sys.executable, "-c", FLIPPER, str(link), *map(str, targets)])
    deadline = time.monotonic() + 30
    while os.readlink(link) != str(targets[-1]) and time.monotonic() < deadline:
        time.sleep(0.01)  # until it runs
    return process


REPLACER = """
import os, shutil, sys
target, source = sys.argv[1], sys.argv[2]
tmp = target + ".attacker"
while True:
    shutil.copyfile(source, tmp)
    os.replace(tmp, target)
"""
EXPORTS = 20


def test_a_file_swapped_in_during_exports_is_never_registered_nor_loaded(exports, tmp_path):
    # an attacker who can write to the folder exported into keeps putting a hostile archive,
    # dressed as the user's own, where `autonn export --out shared/model.pt` writes
    root, paths, rows = exports
    hostile = tmp_path / "hostile.pt"
    hostile_archive(paths["torchscript"].read_bytes(), hostile)
    target = tmp_path / "shared" / "model.pt"
    target.parent.mkdir()
    shutil.copyfile(hostile, target)
    attacker = subprocess.Popen([sys.executable, "-c", REPLACER, str(target), str(hostile)])
    written, outcomes = [], {"verified": 0, "refused": 0}
    try:
        with working_dir(root):
            for _ in range(EXPORTS):
                written.append(export_model("torchscript", target, study="iris", force=True))
                try:
                    model = load(target)  # hostile code raises "hostile code ran" here
                except ModelFileError:
                    outcomes["refused"] += 1
                else:
                    assert not np.isclose(model.outputs(rows), 42.0).any()
                    outcomes[model.provenance] += 1
    finally:
        attacker.kill()
        attacker.wait()
    registry = autonn_home() / "exports"
    assert sha256(hostile) not in os.listdir(registry)  # never registered as the user's own
    for exported in written:  # each registration is of the bytes autonn wrote
        assert (registry / exported.sha256).is_file()
    assert outcomes["refused"] > 0, outcomes  # the attacker did win the path: the race was run
    with working_dir(root):
        export_model("torchscript", target, study="iris", force=True)
    assert load(target).provenance == "verified"  # and once it stops, exports load as before


def _with_a_weight_changed(archive: bytes) -> bytes:
    """The zip ``archive`` rewritten with one byte of its weights flipped."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as src, zipfile.ZipFile(out, "w") as dst:
        flipped = False
        for info in src.infolist():
            data = src.read(info)
            if not flipped and "/data/" in info.filename and data:
                data, flipped = bytes([data[0] ^ 0xFF]) + data[1:], True
            dst.writestr(info, data)
    assert flipped
    return out.getvalue()


def test_a_pt2_archive_is_signed_and_checked_before_torch_loads_it(exports, tmp_path):
    _, paths, rows = exports
    own = paths["exported_program"]
    assert load(own).provenance == "verified"
    body, signature = archives.detach(own.read_bytes())
    tampered = tmp_path / "tampered.pt2"
    tampered.write_bytes(archives.attach(_with_a_weight_changed(body), signature))
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(tampered, trust_model=True)
    unsigned = tmp_path / "unsigned.pt2"
    unsigned.write_bytes(body)
    with pytest.raises(ModelFileError, match=r"no autonn signature\). Loading it runs code from "
                                             r"the file.*--trust-model"):
        load(unsigned)
    with pytest.warns(UserWarning, match="loaded because you trust it: unsigned"):
        trusted = load(unsigned, trust_model=True)
    assert trusted.predict(rows) == load(own).predict(rows)


def test_a_symlink_flipped_during_loads_never_runs_the_hostile_archive(exports, tmp_path):
    _, paths, rows = exports
    own, hostile = paths["torchscript"], tmp_path / "hostile.pt"
    hostile_archive(own.read_bytes(), hostile)
    link = tmp_path / "model.pt"
    os.symlink(own, link)
    attacker = flipping(link, own, hostile)
    outcomes = {"verified": 0, "refused": 0, "hostile": 0}
    # LOADS at least, then on until the race has landed both ways (a busy CI box can starve the
    # attacker for a while), within RACE_SECONDS
    give_up = time.monotonic() + RACE_SECONDS
    try:
        i = 0
        while i < LOADS or (min(outcomes["verified"], outcomes["refused"]) == 0
                            and time.monotonic() < give_up):
            try:
                model = load(link, trust_model=i % 2 == 1)  # half of them trusting the path
            except ModelFileError:
                outcomes["refused"] += 1
            except Exception as exc:  # torch's own error types: the archive's code ran
                if "hostile code ran" not in str(exc):
                    raise
                outcomes["hostile"] += 1
            else:
                hostile_answer = np.isclose(model.outputs(rows), 42.0).any()
                outcomes["hostile" if hostile_answer else getattr(model, "provenance", "verified")] += 1
            i += 1
        flipping_still = attacker.poll() is None
    finally:
        attacker.kill()
        attacker.wait()
    assert outcomes["hostile"] == 0, outcomes
    assert flipping_still, "the attacker process died: the race was not run"
    assert outcomes["verified"] > 0 and outcomes["refused"] > 0, outcomes  # the race was run


def test_the_hostile_archive_is_refused_before_its_code_runs_even_when_trusted(exports, tmp_path):
    _, paths, _ = exports
    hostile = tmp_path / "hostile.pt"
    hostile_archive(paths["torchscript"].read_bytes(), hostile)
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(hostile, trust_model=True)  # it names your key, so it is tampered, not foreign
    registry = autonn_home() / "exports"
    (registry / sha256(hostile)).write_text("")  # a forged registration: an empty marker file
    (registry / digest("", hostile.read_bytes())).write_text("")
    unsigned = tmp_path / "unsigned.pt"
    unsigned.write_bytes(archives.detach(hostile.read_bytes())[0])
    (registry / sha256(unsigned)).write_text("")
    with pytest.raises(ModelFileError, match="no autonn signature.*--trust-model"):
        load(unsigned)


def test_every_format_says_who_signed_it(exports, tmp_path, monkeypatch):
    _, paths, rows = exports
    for fmt, path in paths.items():
        model = load(path)
        assert model.provenance == "verified", fmt
        assert model.provenance_note.startswith("verified: exported by you on this machine")
    bundle = load(paths["state_dict"]).bundle
    monkeypatch.setenv("AUTONN_HOME", str(tmp_path / "someone-else"))
    other = tmp_path / "other.safetensors"
    state_dict.write(bundle, other)  # signed with their new key
    monkeypatch.undo()
    with pytest.raises(ModelFileError, match="another key.*--trust-model"):
        load(other)
    with pytest.warns(UserWarning, match="loaded because you trust it: foreign"):
        assert load(other, trust_model=True).provenance == "foreign"


def test_a_recomputed_plain_digest_does_not_pass_for_a_signature(exports, tmp_path):
    _, paths, _ = exports
    bundle = load(paths["state_dict"]).bundle
    tensors = {k: v.clone() for k, v in bundle.tensors.items()}
    first = sorted(tensors)[0]
    tensors[first] += 1.0
    manifest = bundle.manifest_json()
    with open(paths["state_dict"], "rb") as fh:
        signature = state_dict.parse(fh.read(), "own")[0][state_dict.SIGNATURE_KEY]
    metadata = {state_dict.MANIFEST_KEY: manifest,
                state_dict.DIGEST_KEY: digest(manifest, tensors)}  # a valid-looking sha256
    save_file(tensors, str(tmp_path / "kept.safetensors"),
              metadata={**metadata, state_dict.SIGNATURE_KEY: signature})
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(tmp_path / "kept.safetensors", trust_model=True)
    save_file(tensors, str(tmp_path / "stripped.safetensors"), metadata=metadata)
    with pytest.raises(ModelFileError, match="no autonn signature"):
        load(tmp_path / "stripped.safetensors")


def test_a_tampered_mlflow_directory_is_refused(exports, tmp_path):
    _, paths, _ = exports
    copy = tmp_path / "copy"
    shutil.copytree(paths["mlflow"], copy)
    loader = next(copy.glob("code/autonn/pyfunc.py"))
    loader.write_text(loader.read_text() + "\nimport os  # an attacker's line\n")
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(copy, trust_model=True)


def test_the_signing_key_is_private_and_made_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AUTONN_HOME", str(tmp_path / "home"))
    keys = []
    threads = [threading.Thread(target=lambda: keys.append(signing.own_key(create=True)))
               for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(keys) == 16 and len(set(keys)) == 1 and len(keys[0]) == 32
    path = signing.key_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(os.listdir(path.parent)) == ["signing.key"]
    path.chmod(0o644)
    with pytest.raises(ModelFileError, match="signing.key: .*other users.*chmod 600"):
        signing.sign("x", [b"y"])
    path.unlink()
    os.symlink(tmp_path / "elsewhere", path)
    with pytest.raises(ModelFileError, match="signing.key: cannot open"):
        signing.own_key(create=True)


def test_a_huge_layer_width_is_refused_before_anything_is_allocated(exports, tmp_path):
    _, paths, _ = exports
    bundle = load(paths["state_dict"]).bundle
    params = {**bundle.params, "width_0": 2147483648}
    members = [replace(m, params={**m.params, "width_0": 2147483648}) for m in bundle.members]
    huge = tmp_path / "huge.safetensors"  # one network or each of an ensemble's members
    state_dict.write(replace(bundle, params=params, members=members), huge)
    before, start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    with pytest.raises(ModelFileError, match="width_0 = 2147483648 is out of bounds"):
        load(huge)
    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before  # kB
    assert grown < 50_000 and time.monotonic() - start < 10


@pytest.mark.parametrize("columns", [[0, 9], [2, 1], [-1], "0,1", [True], [0.5]])
def test_embedded_columns_outside_the_rows_are_refused_before_anything_is_built(exports, tmp_path,
                                                                               columns):
    _, paths, _ = exports
    bundle = load(paths["state_dict"]).bundle  # iris: 4 features
    forged = tmp_path / "forged.safetensors"
    state_dict.write(replace(bundle, continuous=columns), forged)
    with pytest.raises(ModelFileError, match="manifest field continuous is not a list of "
                                             "distinct column numbers in increasing order below 4"):
        load(forged)


@pytest.mark.parametrize("suffix", [".pt", ".pt2"])
def test_a_zip_bomb_is_refused_without_inflating(tmp_path, suffix):
    bomb = tmp_path / f"bomb{suffix}"
    # the member that makes autonn read it as TorchScript (code/) or as a .pt2 (archive_format)
    marker = "archive/code/__torch__.py" if suffix == ".pt" else "archive/archive_format"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(marker, "")
        with archive.open("archive/extra/autonn.json", "w", force_zip64=True) as member:
            for _ in range(256):  # 256 MB of zeros, a few hundred kB packed
                member.write(bytes(1 << 20))
    assert bomb.stat().st_size < 2_000_000
    head = bomb.read_bytes()[:16]
    read_as = next(name for name, fmt in FORMATS.items() if fmt.matches(bomb, head))
    assert read_as == {".pt": "torchscript", ".pt2": "exported_program"}[suffix]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelFileError, match="zip bomb"):
        load(bomb, trust_model=True)
    small = tmp_path / f"small{suffix}"
    with zipfile.ZipFile(small, "w") as archive:  # stored, so no bomb: only too big a manifest
        archive.writestr(marker, "")
        archive.writestr("archive/extra/autonn.json", b" " * (2 << 20))
    with pytest.raises(ModelFileError, match="member archive/extra/autonn.json is 2097152 bytes"):
        load(small, trust_model=True)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 50_000


def test_an_mlmodel_data_path_must_stay_inside_the_directory(exports, tmp_path):
    _, paths, _ = exports
    copy = tmp_path / "model"
    shutil.copytree(paths["mlflow"], copy)
    mlmodel = copy / "MLmodel"
    text = mlmodel.read_text()
    assert "data: data/model.safetensors" in text
    shutil.copy(copy / "data" / "model.safetensors", tmp_path / "outside.safetensors")
    mlmodel.write_text(text.replace("data: data/model.safetensors",
                                    "data: ../outside.safetensors"))
    with pytest.raises(ModelFileError, match="changed after autonn exported it"):
        load(copy, trust_model=True)
    (copy / "autonn.sig").unlink()  # unsigned and trusted: the path is still checked
    with pytest.raises(ModelFileError, match="MLmodel field data = '../outside.safetensors' leads "
                                             "outside the model directory"):
        load(copy, trust_model=True)


def test_export_replaces_only_what_autonn_signed_unless_forced(exports, tmp_path):
    root, paths, _ = exports
    notes = tmp_path / "notes.onnx"
    notes.write_text("my notes")
    with working_dir(root):
        with pytest.raises(AutonnError, match="not an export signed with your key.*--force"):
            export_model("onnx", notes, study="iris")
        assert notes.read_text() == "my notes"
        result = CliRunner().invoke(main, ["export", "--study", "iris", "--format", "onnx",
                                           "--out", str(notes), "--no-tracking"])
        assert result.exit_code != 0 and "--force" in result.output
        assert notes.read_text() == "my notes"
        export_model("onnx", notes, study="iris", force=True)
        assert load(notes).provenance == "verified"
        export_model("onnx", notes, study="iris")  # its own signed export: replaced freely
        entry = (autonn_home() / "exports" / sha256(notes)).read_text()
        assert signing.SCHEME in entry  # the registration holds the signature


def test_a_failed_directory_export_keeps_the_old_one(exports, tmp_path):
    _, paths, rows = exports
    target = tmp_path / "model.mlflow"
    shutil.copytree(paths["mlflow"], target)
    expected = load(target).predict(rows)
    with pytest.raises(RuntimeError):
        with staged(target) as private:
            shutil.copytree(paths["mlflow"], private)
            (private / "MLmodel").write_text("half")
            raise RuntimeError("killed while writing")
    assert load(target).predict(rows) == expected
    assert sorted(os.listdir(tmp_path)) == ["model.mlflow"]


def test_predict_verbose_says_who_signed_the_model(exports, tmp_path):
    _, paths, rows = exports
    rows.to_csv(tmp_path / "rows.csv", index=False)
    result = CliRunner().invoke(main, ["predict", "--model", str(paths["onnx"]), "--input",
                                       str(tmp_path / "rows.csv"), "--verbose"])
    assert result.exit_code == 0, result.output
    assert "verified: exported by you on this machine" in result.stderr
    assert "verified" not in result.stdout
