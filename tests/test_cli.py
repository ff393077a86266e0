import json
import subprocess
import sys

from click.testing import CliRunner

from autonn.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_search_then_best_as_json():
    result = run("search", "--dataset", "iris", "--n-trials", "2", "--seed", "1")
    assert result.exit_code == 0, result.output
    assert "Study 'iris': 2 trials (2 complete), metric accuracy (maximize)" in result.output
    assert "Final model: " in result.output and "#/experiments/" in result.output
    best = json.loads(run("best", "--study", "iris", "--json").output)
    assert best["study"] == "iris" and best["metric"] == "accuracy" and best["direction"] == "maximize"
    assert 0 <= best["value"] <= 1 and "n_layers" in best["params"]


def test_search_reads_a_config_and_flags_override_it(tmp_path):
    cfg = tmp_path / "exp.yaml"
    cfg.write_text("dataset: wine\nn_trials: 9\nspace:\n  epochs: 3\n  n_layers: 1\n")
    result = run("search", str(cfg), "--n-trials", "2", "--study", "w", "--no-tracking")
    assert result.exit_code == 0, result.output
    assert "Study 'w': 2 trials" in result.output and "autonn ui" not in result.output


def test_space_json():
    out = json.loads(run("space", "--dataset", "diabetes", "--json").output)
    assert out["task"] == "regression" and out["space"]["loss"]["choices"] == ["mse", "mae"]


def test_datasets_lists_bundled_sets():
    result = run("datasets", "--json")
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["digits"] == {"name": "digits", "rows": 1797, "features": 64, "task": "multiclass",
                              "classes": 10}


def test_bad_input_is_one_line_and_exit_code_2(tmp_path):
    result = run("search", "--dataset", "irsi")
    assert result.exit_code == 2
    assert "Error: unknown dataset 'irsi'. Did you mean 'iris'?" in result.output
    assert "Traceback" not in result.output
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("space:\n  activation: rleu\n")
    result = run("search", str(cfg), "--dataset", "iris")
    assert result.exit_code == 2 and "bad.yaml:2: space.activation: unknown activation 'rleu'" in result.output
    assert run("best", "--study", "nope").exit_code == 2


def test_console_script_runs_as_a_subprocess():
    proc = subprocess.run([sys.executable, "-m", "autonn", "space", "--dataset", "iris", "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["task"] == "multiclass"


def test_choices_on_the_command_line_come_from_the_registries():
    import click

    from autonn.cli.search import search
    from autonn.families import FAMILY_CHOICES
    from autonn.samplers import PRUNERS, SAMPLERS
    from autonn.tasks import TASKS

    choices = {p.name: list(p.type.choices) for p in search.params
               if isinstance(p.type, click.Choice)}
    assert choices == {"task": ["auto", *TASKS], "family": list(FAMILY_CHOICES),
                       "sampler": list(SAMPLERS), "pruner": list(PRUNERS)}
