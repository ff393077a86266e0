"""Architecture families (mlp, resmlp, cnn, auto) and the feature-attention block."""

import dataclasses

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import tiny

from autonn import make_config
from autonn.cli import main
from autonn.components import NORMS
from autonn.data.features import identity_encoder
from autonn.errors import ConfigError
from autonn.export import exported_program, onnx_model, state_dict, torchscript
from autonn.export.bundle import Bundle
from autonn.export.pipeline import ScoringModule
from autonn.families import FAMILIES, FAMILY_CHOICES, architecture, summary
from autonn.families.builder import build_model
from autonn.metrics import metric_for
from autonn.params import dimension
from autonn.search.problem import prepare
from autonn.space import resolve_family, resolve_losses, resolve_space, suggest
from autonn.training.loop import train_params
from autonn.training.weights import state_tensors

BASE = {"n_layers": 2, "width_0": 12, "width_1": 8, "activation": "relu", "init": "he_uniform",
        "norm": "batch", "dropout": 0.1, "loss": "cross_entropy", "optimizer": "adam",
        "lr": 1e-2, "batch_size": 16, "epochs": 1}
CNN = {"family": "cnn", "conv_blocks": 2, "channels_0": 4, "channels_1": 6, "kernel_size": 3,
       "pool": "max"}
ATTENTION = {"attention": True, "attention_dim": 8, "attention_heads": 2}
OPTIONS = {
    "mlp": {"family": "mlp"},
    "mlp+attention": {"family": "mlp", **ATTENTION},
    "resmlp": {"family": "resmlp", "width": 12},
    "resmlp+attention": {"family": "resmlp", "width": 12, **ATTENTION},
    "mlp+plr": {"family": "mlp", "embedding": "plr", "embedding_dim": 4, "embedding_scale": 0.1},
    "resmlp+periodic": {"family": "resmlp", "width": 12, "embedding": "periodic",
                        "embedding_dim": 4, "embedding_scale": 1.0},
    "cnn-2d": CNN,
    "cnn-1d": {**CNN, "pool": "avg"},
}
SHAPES = {"cnn-2d": (1, 4, 4), "cnn-1d": (2, 8)}


def _data(option):
    data = tiny("multiclass", n=96, features=16)
    return dataclasses.replace(data, input_shape=SHAPES.get(option))


@pytest.mark.parametrize("norm", sorted(NORMS))
@pytest.mark.parametrize("option", sorted(OPTIONS))
def test_each_family_and_block_builds_and_trains_a_step(option, norm):
    params = {**BASE, **OPTIONS[option], "norm": norm, "activation": "prelu"}
    data = _data(option)
    model, _, history = train_params(params, data, metric_for("accuracy", "multiclass"), seed=0)
    assert len(history.train_loss) == 1 and np.isfinite(history.train_loss[0])
    assert model(data.x_val).shape == (len(data.x_val), 3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(0)
    again = build_model(params, 16, 3, SHAPES.get(option))
    assert again.state_dict().keys() == before.keys()  # the replay builds the same layers


def test_resmlp_blocks_keep_one_width_and_add_a_skip():
    model = build_model({**BASE, "family": "resmlp", "n_layers": 3, "width": 10, "norm": "none",
                         "dropout": 0.0}, 5, 2)
    blocks = [m for m in model if type(m).__name__ == "Residual"]
    assert len(blocks) == 3
    x = torch.randn(4, 10)
    with torch.no_grad():
        blocks[0].linear.weight.zero_()
        blocks[0].linear.bias.zero_()
        assert torch.equal(blocks[0](x), x + blocks[0].activation(torch.zeros_like(x)))


def test_cnn_pools_only_while_the_image_is_big_enough():
    model = build_model({**BASE, **CNN, "conv_blocks": 4, "channels": 3}, 64, 10, (1, 8, 8))
    assert model(torch.randn(2, 64)).shape == (2, 10)  # 8 -> 4 -> 2 -> 1, then no more pooling


@pytest.mark.parametrize("option", ["mlp+attention", "cnn-2d", "resmlp", "mlp+plr",
                                    "resmlp+periodic"])
def test_families_export_and_reload_with_the_same_outputs(option, tmp_path):
    params = {**BASE, **OPTIONS[option]}
    torch.manual_seed(0)
    shape = SHAPES.get(option)
    continuous = [0, 2, 5, 11] if "periodic" in option else None  # the others: 0/1 columns
    module = ScoringModule(build_model(params, 16, 3, shape, continuous), "softmax", 16).eval()
    bundle = Bundle("multiclass", params, 3, "softmax", identity_encoder(
        [f"x{i}" for i in range(16)]), ["a", "b", "c"], input_shape=list(shape) if shape else None,
        tensors=state_tensors(module), continuous=continuous)
    state_dict.write(bundle, tmp_path / "m.safetensors")
    x = torch.randn(7, 16)
    with torch.inference_mode():
        expected = module(x).numpy()
        reloaded = state_dict.read_bundle(tmp_path / "m.safetensors").module()(x).numpy()
    np.testing.assert_allclose(reloaded, expected, atol=1e-6)
    for form, name in ((onnx_model, "m.onnx"), (torchscript, "m.pt"), (exported_program, "m.pt2")):
        form.write(bundle, tmp_path / name)
        _, run, _ = form.read(tmp_path / name)  # signed by this user's key: loads
        np.testing.assert_allclose(run(x.numpy()), expected, atol=1e-5, err_msg=name)


def test_auto_searches_every_family_the_data_allows():
    digits = prepare(make_config(dataset="digits", space={"family": "auto"}))
    assert digits.config.space.family == ["mlp", "resmlp", "cnn"]
    assert digits.data.input_shape == (1, 8, 8)
    iris = prepare(make_config(dataset="iris", space={"family": "auto"}))
    assert iris.config.space.family == ["mlp", "resmlp"]


def test_bad_family_settings_name_the_fix():
    with pytest.raises(ConfigError, match="cnn needs the rows' shape; add input_shape"):
        prepare(make_config(dataset="iris", space={"family": "cnn"}))
    with pytest.raises(ConfigError, match=r"input_shape \[1, 3, 3\] holds 9 values, but the rows "
                                          "have 4 features"):
        prepare(make_config(dataset="iris", input_shape=[1, 3, 3], space={"family": "cnn"}))
    with pytest.raises(ConfigError, match="attention_dim 12 does not divide by attention_heads 8"):
        make_config(space={"attention_dim": [12], "attention_heads": [1, 8]})
    with pytest.raises(ConfigError, match="unknown family 'transformer'"):
        make_config(space={"family": "transformer"})


def test_architecture_and_summary_name_the_family():
    params = {**BASE, **CNN}
    assert architecture(params)["conv"] == {"channels": [4, 6], "kernel_size": 3, "pool": "max"}
    assert summary(params).startswith("cnn c4-6k3 12-8")
    assert summary({**BASE, "family": "resmlp", "width": 12}).startswith("resmlp 2x12")
    assert architecture({**BASE, **ATTENTION})["attention"] == {"dim": 8, "heads": 2}


def test_the_command_line_searches_a_cnn_on_digits():
    result = CliRunner().invoke(main, ["search", "--dataset", "digits", "--family", "cnn",
                                       "--n-trials", "2", "--epochs", "2", "--no-tracking",
                                       "--quiet"])
    assert result.exit_code == 0, result.output
    trials = CliRunner().invoke(main, ["trials", "--json"])
    rows = __import__("json").loads(trials.output)
    assert all(r["architecture"].startswith("cnn c") for r in rows)


SHARED_DIMENSIONS = {"family", "activation", "init", "norm", "loss", "optimizer", "dropout", "lr",
                     "weight_decay", "momentum", "nesterov", "batch_size", "epochs", "schedule",
                     "label_smoothing"}


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_registered_family_samples_builds_describes_and_is_offered(name):
    import optuna

    from autonn.cli.search import search

    family = FAMILIES[name]
    shape = (1, 4, 4) if family.needs_shape else None
    space = resolve_family(resolve_losses(make_config(space={"family": name}).space,
                                          "multiclass"), shape)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(5):
        params = suggest(study.ask(), space)
        assert params["family"] == name
        own = {dimension(k) for k in params} - SHARED_DIMENSIONS
        assert own and own <= set(family.dimensions)  # a family samples only what it declares
        model = build_model(params, 16, 3, shape)
        assert model(torch.randn(4, 16)).shape == (4, 3)
        assert architecture(params, 16, 3)["family"] == name and summary(params)
    choices = next(p for p in search.params if p.name == "family").type.choices
    assert list(choices) == list(FAMILY_CHOICES) and name in choices


def test_every_dimension_a_family_declares_is_a_space_field():
    from autonn.config import SpaceConfig

    for family in FAMILIES.values():
        assert set(family.dimensions) <= set(SpaceConfig.model_fields), family.name


def test_periodic_embeddings_give_each_feature_its_own_frequencies_and_map():
    from autonn.blocks import PeriodicEmbedding

    torch.manual_seed(0)
    embed = PeriodicEmbedding(3, 4, scale=0.1, relu=True)
    x = torch.randn(5, 3)
    out = embed(x)
    assert out.shape == (5, 12) and (out >= 0).all()
    x2 = x.clone()
    x2[:, 1] += 1.0  # changing feature 1 changes only its own four outputs
    changed = (embed(x2) != out).any(dim=0)
    assert changed[4:8].any() and not changed[:4].any() and not changed[8:].any()


def test_embeddings_embed_continuous_columns_and_pass_binary_ones_on():
    from autonn.blocks import PeriodicEmbedding

    torch.manual_seed(0)
    embed = PeriodicEmbedding(5, 4, scale=0.1, relu=True, columns=[0, 3])
    x = torch.randn(6, 5)
    out = embed(x)
    assert out.shape == (6, 2 * 4 + 3) and embed.frequencies.shape == (2, 4)
    torch.testing.assert_close(out[:, 8:], x[:, [1, 2, 4]])  # as they are, in column order
    x2 = x.clone()
    x2[:, 3] += 1.0  # the second embedded column changes only its own four outputs
    changed = (embed(x2) != out).any(dim=0)
    assert changed[4:8].any() and not changed[:4].any() and not changed[8:].any()
    assert set(embed.state_dict()) == {"frequencies", "weight", "bias"}  # columns: the builder's
    data = tiny("multiclass", n=96, features=16, binary=12)
    assert data.continuous == (0, 1, 2, 3)
    params = {**BASE, **OPTIONS["mlp+plr"]}
    model, _, _ = train_params(params, data, metric_for("accuracy", "multiclass"), seed=0)
    assert model[0].columns == [0, 1, 2, 3] and model[1].in_features == 4 * 4 + 12


def test_wide_rows_and_regression_targets_narrow_the_space():
    wide = resolve_space(make_config().space, "multiclass", None, 300)
    assert wide.embedding == "none" and wide.label_smoothing == [0.0, 0.1]
    only_binary = resolve_space(make_config().space, "multiclass", None, 0)
    assert only_binary.embedding == "none"
    regression = resolve_space(make_config().space, "regression", None, 10)
    assert regression.label_smoothing == 0.0 and regression.embedding == ["none", "plr"]


def test_dropout_on_the_cpu_drops_a_share_and_rescales_the_rest():
    from autonn.blocks import Dropout

    x = torch.ones(400, 256, requires_grad=True)
    layer = Dropout(0.25)
    torch.manual_seed(3)
    out = layer(x)
    kept = out != 0
    assert abs(kept.float().mean().item() - 0.75) < 0.01  # ~p of the units dropped
    assert torch.allclose(out[kept], torch.tensor(1 / 0.75))  # survivors scaled up
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # the gradient flows through the same mask
    torch.manual_seed(3)
    assert torch.equal(layer(x), out)  # the seed fixes the mask
    assert torch.equal(layer.eval()(x), x)  # evaluation: the identity
