import pytest

from autonn.config import DEFAULT_TRIALS, UNTIL_TIMEOUT, Range, load_config, make_config
from autonn.errors import ConfigError
from autonn.space import resolve_losses


def write(tmp_path, text):
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_a_full_config_loads_typed(tmp_path):
    cfg = load_config(write(tmp_path, """
dataset: iris
n_trials: 5
space:
  n_layers: [1, 2]
  activation: relu
  lr: {low: 1.0e-3, high: 1.0e-1, log: true}
training:
  patience: 3
"""))
    assert cfg.dataset == "iris" and cfg.n_trials == 5 and cfg.training.patience == 3
    assert cfg.space.n_layers == [1, 2] and cfg.space.activation == "relu"
    assert cfg.space.lr == Range(low=1e-3, high=1e-1, log=True)
    with pytest.raises(Exception):
        cfg.n_trials = 3  # frozen


def test_overrides_replace_file_values(tmp_path):
    cfg = load_config(write(tmp_path, "dataset: iris\nn_trials: 5\n"), n_trials=9, seed=None)
    assert cfg.n_trials == 9 and cfg.seed == 0


@pytest.mark.parametrize("text,message", [
    ("space:\n  activaton: relu\n",
     "exp.yaml:2: unknown key 'space.activaton'. Did you mean 'activation'? Valid keys here: family, n_layers"),
    ("space:\n  activation: [relu, rleu]\n",
     "exp.yaml:2: space.activation: unknown activation 'rleu'. Did you mean 'relu'? Valid: gaussian, "
     "identity, leaky_relu, prelu, relu, sigmoid, softmax, softplus, swish, tanh."),
    ("n_trials: 3\nspace:\n  lr: {low: 0.1, high: 0.001}\n",
     "exp.yaml:3: space.lr: low (0.1) is greater than high (0.001); swap them"),
    ("space:\n  lr: {low: 0, high: 1, log: true}\n", "space.lr: a log range needs low > 0"),
    ("space:\n  width: {low: 8, high: 64.5}\n", "space.width: takes whole numbers"),
    ("space:\n  optimizer: adm\n", "unknown optimizer 'adm'. Did you mean 'adam'?"),
    ("metric: acuracy\n", "exp.yaml:1: metric: unknown metric 'acuracy'. Did you mean 'accuracy'?"),
    ("task: clasification\n", "exp.yaml:1: task: Input should be 'auto', 'binary', 'multiclass' or "
                              "'regression'; got 'clasification'"),
    ("training:\n  patience: soon\n", "exp.yaml:2: training.patience: Input should be a valid integer"),
    ("space: [1, 2\n", "exp.yaml:2: not valid YAML"),
    ("- just\n- a list\n", "exp.yaml: the config must be a mapping"),
])
def test_invalid_config_names_file_line_field_and_fix(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: cannot read the config file"):
        load_config(tmp_path / "nope.yaml")


def test_yaml_is_read_with_a_safe_loader(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "dataset: !!python/object/apply:os.system ['touch pwned']\n"))
    assert not (tmp_path / "pwned").exists()


def test_loss_must_fit_the_task():
    cfg = make_config({"space": {"loss": ["mse", "kl_div"]}})
    with pytest.raises(ConfigError, match="exp.yaml: space.loss: 'kl_div' does not fit a binary task. "
                                          "Valid for binary: mse, mae, bce, cross_entropy, hinge."):
        resolve_losses(cfg.space, "binary", "exp.yaml")
    assert resolve_losses(make_config().space, "regression").loss == ["mse", "mae"]


def test_shipped_experiment_configs_are_valid():
    from pathlib import Path
    root = Path(__file__).parent.parent / "experiments"
    configs = sorted(root.glob("*.yaml"))
    assert len(configs) >= 6
    for path in configs:
        assert load_config(path).dataset
    assert load_config(root / "template.yaml") == make_config({"dataset": "iris"})


def test_several_bad_keys_are_all_reported_in_file_order(tmp_path):
    text = "metric: acuracy\nspace:\n  activaton: relu\n  optimizer: adm\nn_trails: 3\n"
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    found = [message.find(s) for s in ("exp.yaml:1:", "exp.yaml:3:", "exp.yaml:4:", "exp.yaml:5:")]
    assert -1 not in found and found == sorted(found), message  # every one, lines in order
    assert "'acuracy'" in message and "'space.activaton'" in message and "'adm'" in message
    assert "'n_trails'" in message


def test_a_budget_without_a_trial_count_runs_as_many_trials_as_it_allows(tmp_path):
    assert make_config({"dataset": "iris"}).n_trials == DEFAULT_TRIALS == 20
    assert make_config({"dataset": "iris", "timeout": 60}).n_trials == UNTIL_TIMEOUT
    assert make_config({"dataset": "iris", "timeout": 60, "n_trials": 5}).n_trials == 5
    assert make_config({"dataset": "iris", "timeout": 60}).until_timeout
    assert not make_config({"dataset": "iris", "timeout": 60, "n_trials": 5}).until_timeout
    path = write(tmp_path, "dataset: iris\nn_trials: null\ntimeout: 300\n")
    assert load_config(path).n_trials == UNTIL_TIMEOUT
    assert load_config(path, n_trials=7).n_trials == 7  # a flag still wins
