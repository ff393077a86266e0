import pytest
import torch

import autonn
from autonn.errors import DeviceError
from autonn.training.device import best_device, release_memory, resolve_device


def test_auto_picks_the_best_present_device():
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert resolve_device("auto").type == expected == best_device().type
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
def test_missing_cuda_is_a_clear_error():
    with pytest.raises(DeviceError, match="no CUDA GPU; use --device cpu or auto"):
        resolve_device("cuda:1")


def test_unknown_device_lists_the_valid_ones():
    with pytest.raises(DeviceError, match="Valid: auto, cpu, cuda, cuda:N, mps"):
        resolve_device("tpu")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_memory_returns_to_baseline_after_a_trial():
    device = torch.device("cuda")
    release_memory(device)
    base = torch.cuda.memory_allocated()
    x = torch.randn(4096, 4096, device=device)
    del x
    release_memory(device)
    assert torch.cuda.memory_allocated() == base


def test_public_api_imports():
    for name in autonn.__all__:
        assert getattr(autonn, name) is not None
