import pytest
import torch
import torch.nn.functional as F
from conftest import tiny

from autonn.errors import ConfigError
from autonn.families.builder import build_model
from autonn.losses import LOSSES, LOSSES_FOR_TASK, head
from autonn.tasks import TASKS

PAIRS = [(loss, task) for task in TASKS for loss in LOSSES_FOR_TASK[task]]


def test_compatibility_table():
    assert LOSSES_FOR_TASK == {
        "regression": ("mse", "mae"),
        "binary": ("mse", "mae", "bce", "cross_entropy", "hinge"),
        "multiclass": ("mse", "mae", "cross_entropy", "hinge", "kl_div"),
    }


@pytest.mark.parametrize("loss,task", PAIRS)
def test_every_fitting_pair_builds_and_trains_one_step(loss, task):
    data = tiny(task)
    h = head(loss, task, data.n_outputs)
    torch.manual_seed(0)
    model = build_model({"n_layers": 1, "width": 8, "activation": "tanh", "init": "xavier_uniform"},
                      data.x_train.shape[1], h.n_outputs).to(data.x_train.device)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    target = h.encode(data.y_train)
    before = h.criterion(model(data.x_train), target)
    before.backward()
    opt.step()
    after = h.criterion(model(data.x_train), target)
    assert torch.isfinite(before) and after < before
    pred = h.predict(model(data.x_val))
    if task == "regression":
        assert pred.shape == (len(data.x_val), 1)
    else:
        assert pred.shape == (len(data.x_val), data.n_outputs)
        assert torch.allclose(pred.sum(dim=1).cpu(), torch.ones(len(pred)), atol=1e-5)


@pytest.mark.parametrize("loss,task", [(l, t) for t in TASKS for l in LOSSES if l not in LOSSES_FOR_TASK[t]])
def test_a_loss_that_does_not_fit_the_task_is_refused(loss, task):
    with pytest.raises(ConfigError, match=f"loss '{loss}' does not fit a {task} task"):
        head(loss, task, 3)


def test_target_encodings():
    y = torch.tensor([0, 1, 1, 0])
    assert head("bce", "binary", 2).encode(y).tolist() == [0.0, 1.0, 1.0, 0.0]
    assert head("hinge", "binary", 2).encode(y).tolist() == [-1.0, 1.0, 1.0, -1.0]
    assert head("hinge", "binary", 2).n_outputs == 1 and head("bce", "binary", 2).n_outputs == 1
    assert head("cross_entropy", "binary", 2).n_outputs == 2
    assert head("mse", "binary", 2).encode(y).tolist() == [[1, 0], [0, 1], [0, 1], [1, 0]]
    y3 = torch.tensor([2, 0])
    kl = head("kl_div", "multiclass", 3).encode(y3)
    assert torch.allclose(kl.sum(dim=1), torch.ones(2)) and kl[0].argmax() == 2 and kl[0, 0] > 0
    assert head("hinge", "multiclass", 3).encode(y3).dtype == torch.long


def test_losses_agree_with_their_definitions():
    out, y = torch.tensor([[2.0], [-1.0]]), torch.tensor([1, 0])
    bce = head("bce", "binary", 2)
    assert torch.isclose(bce.criterion(out, bce.encode(y)),
                         F.binary_cross_entropy(torch.sigmoid(out.squeeze()), y.float()))
    hinge = head("hinge", "binary", 2)
    assert hinge.criterion(out, hinge.encode(y)).item() == pytest.approx(0.0)  # both beyond margin
    big = torch.tensor([[1e4], [-1e4]])
    assert torch.isfinite(bce.criterion(big, bce.encode(torch.tensor([0, 1]))))  # from logits
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    kl = head("kl_div", "multiclass", 3)
    t = kl.encode(torch.tensor([1]))
    expected = (t * (t.log() - logits.log_softmax(-1))).sum()
    assert torch.isclose(kl.criterion(logits, t), expected)


def test_label_smoothing_moves_target_mass_onto_every_class():
    y, out = torch.tensor([0, 2]), torch.randn(2, 3)
    ce = head("cross_entropy", "multiclass", 3, smoothing=0.1)
    assert torch.allclose(ce.criterion(out, ce.encode(y)),
                          F.cross_entropy(out, y, label_smoothing=0.1))
    bce = head("bce", "binary", 2, smoothing=0.1)
    assert bce.encode(torch.tensor([0, 1])).tolist() == pytest.approx([0.05, 0.95])
    kl = head("kl_div", "multiclass", 3, smoothing=0.3)
    assert kl.encode(torch.tensor([0]))[0].tolist() == pytest.approx([0.8, 0.1, 0.1])
    mse = head("mse", "multiclass", 3, smoothing=0.3)
    assert mse.encode(torch.tensor([1]))[0].tolist() == pytest.approx([0.1, 0.8, 0.1])
    values = torch.tensor([[1.5], [-2.0]])
    assert torch.equal(head("mse", "regression", 1, smoothing=0.1).encode(values), values)
