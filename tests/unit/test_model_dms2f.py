"""The network: shapes, size, determinism in eval mode, training corruption and loss."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dms2f_had.models import (
    ConfigError,
    Dms2fConfig,
    Dms2fHad,
    ModelError,
    corrupt_blocks,
    reconstruction_loss,
    reconstruction_loss_ref,
)
from dms2f_had.models.dms2f import SpectralBranch


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    cfg = dataclasses.replace(Dms2fConfig.preset("fast", 10), width=16, d_state=4)
    return Dms2fHad(cfg)


def test_paper_preset_sizes_and_parameter_count():
    cfg = Dms2fConfig.preset("paper", 189)
    assert (cfg.width, cfg.d_state, cfg.d_conv, cfg.expand) == (64, 64, 4, 2)
    assert (cfg.d_inner, cfg.dt_rank, cfg.n_groups, cfg.padded_width, cfg.n_tokens) == (128, 4, 11, 72, 256)
    model = Dms2fHad(cfg)
    n_mamba = sum(1 for m in model.modules() if type(m).__name__ == "Mamba")
    assert n_mamba == 6
    assert model.n_parameters() == 639_770  # "about 0.64 M" in the reference implementation


def test_fast_preset_is_smaller():
    fast = Dms2fConfig.preset("fast", 189)
    assert fast.bands == 189 and fast.width < 64 and fast.d_state < 64
    assert Dms2fHad(fast).n_parameters() < 639_770


def test_config_round_trip_and_validation():
    cfg = Dms2fConfig.preset("fast", 50)
    assert Dms2fConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown model preset 'huge'"):
        Dms2fConfig.preset("huge", 10)
    with pytest.raises(ConfigError, match="unknown model config keys"):
        Dms2fConfig.from_dict({**cfg.to_dict(), "heads": 4})
    with pytest.raises(ValueError, match="bands must be a whole number from 1 to 4096, got 0"):
        Dms2fConfig(bands=0)
    assert issubclass(ConfigError, ModelError)


@pytest.mark.parametrize("field, value", [("width", float("nan")), ("width", float("inf")),
                                          ("bands", True), ("d_state", 10_000_000),
                                          ("width", "64"), ("dropout", float("nan"))])
def test_hostile_config_values_are_refused_by_name(field, value):
    with pytest.raises(ConfigError, match=field):
        Dms2fConfig.from_dict({**Dms2fConfig.preset("fast", 20).to_dict(), field: value})


def test_forward_shape_and_backward(tiny):
    x = torch.rand(3, 10, 16, 16)
    tiny.train()
    y = tiny(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    reconstruction_loss(y, x).backward()
    assert all(p.grad is not None for p in tiny.parameters())


def test_eval_mode_is_deterministic(tiny):
    x = torch.rand(2, 10, 16, 16)
    tiny.eval()
    with torch.no_grad():
        assert torch.equal(tiny(x), tiny(x))
        alone = tiny(x[:1])
    torch.testing.assert_close(alone, tiny(x)[:1])  # no batch statistics in eval mode


def test_spectral_descriptor_is_shared_by_all_pixels(tiny):
    tiny.eval()
    with torch.no_grad():
        out = tiny.spectral(torch.rand(2, 16, 16, 16))
    assert out.shape == (2, 16, 16, 16)
    assert torch.equal(out, out[:, :, :1, :1].expand_as(out))


def test_corrupt_blocks_zeroes_one_3x3_hole_per_block():
    x = torch.rand(5, 4, 16, 16) + 0.1
    noisy = corrupt_blocks(x, torch.Generator().manual_seed(0), p=1.0)
    assert noisy.shape == x.shape and not torch.equal(noisy, x) and (x > 0).all()
    zero = noisy == 0  # (b, C, H, W)
    assert torch.equal(zero, zero[:, :1].expand_as(zero))  # all bands together
    for block in zero[:, 0]:
        rows, cols = torch.nonzero(block, as_tuple=True)
        assert len(rows) == 9 and rows.max() - rows.min() == 2 and cols.max() - cols.min() == 2
    torch.testing.assert_close(noisy[~zero], x[~zero])


def test_corrupt_blocks_probability_and_reproducibility():
    x = torch.rand(2, 3, 16, 16) + 0.1
    assert torch.equal(corrupt_blocks(x, torch.Generator().manual_seed(0), p=0.0), x)
    runs = [corrupt_blocks(x, torch.Generator().manual_seed(4), p=1.0) for _ in range(2)]
    assert torch.equal(*runs)
    g = torch.Generator().manual_seed(1)
    corrupted = sum(not torch.equal(corrupt_blocks(x, g), x) for _ in range(200))
    assert 70 < corrupted < 130  # p = 0.5 per batch


def test_reconstruction_loss_on_known_values():
    target = torch.zeros(1, 1, 2, 2)
    recon = torch.tensor([[[[1.0, -1.0], [2.0, 0.0]]]])
    # MSE = (1 + 1 + 4 + 0) / 4 = 1.5; L1 = (1 + 1 + 2 + 0) / 4 = 1.0
    assert reconstruction_loss(recon, target).item() == pytest.approx(1.5 + 0.1 * 1.0)


@pytest.mark.parametrize("channels_last", [False, True])
def test_fused_loss_and_gradient_equal_the_composed_losses(channels_last):
    torch.manual_seed(3)
    recon = torch.randn(4, 7, 16, 16, dtype=torch.float64)
    if channels_last:  # what the network's head returns
        recon = recon.contiguous(memory_format=torch.channels_last)
    target = torch.randn(4, 7, 16, 16, dtype=torch.float64, requires_grad=True)
    recon.requires_grad_(True)
    upstream = torch.tensor(0.7, dtype=torch.float64)
    fast = reconstruction_loss(recon, target)
    fast_grads = torch.autograd.grad(fast * upstream, [recon, target])
    ref = reconstruction_loss_ref(recon, target)
    ref_grads = torch.autograd.grad(ref * upstream, [recon, target])
    torch.testing.assert_close(fast, ref)
    for got, want in zip(fast_grads, ref_grads):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("width", [5, 32, 64])
def test_channel_conv_matrix_matches_the_two_channel_convolutions(width):
    """The spectral branch's fast path (one matrix product) against the plain k7 + k3 Conv1d."""
    torch.manual_seed(width)
    cfg = Dms2fConfig(bands=20, width=width, group_size=min(12, width), group_step=min(6, width))
    branch = SpectralBranch(cfg).double()
    spectra = torch.randn(40, 1, width, dtype=torch.float64, requires_grad=True)  # (n, 1, width)
    reference = spectra + branch.conv7(spectra) + branch.conv3(spectra)  # (n, 1, width)
    fast = branch.mix_channels(spectra.reshape(-1, width))  # (n, width)
    torch.testing.assert_close(fast.reshape_as(reference), reference)
    upstream = torch.randn_like(reference)
    leaves = [spectra, branch.conv7.weight, branch.conv7.bias, branch.conv3.weight, branch.conv3.bias]
    grads_ref = torch.autograd.grad(reference, leaves, upstream)
    grads_fast = torch.autograd.grad(fast.reshape_as(reference), leaves, upstream)
    for ref, got in zip(grads_ref, grads_fast):
        torch.testing.assert_close(got, ref)


def test_trimmed_loss_leaves_out_each_blocks_worst_pixels():
    from dms2f_had.models.objective import trimmed_reconstruction_loss

    torch.manual_seed(0)
    target = torch.randn(3, 4, 8, 8)
    recon = target + 0.1 * torch.randn(3, 4, 8, 8)
    assert trimmed_reconstruction_loss(recon, target, 0.0).item() == pytest.approx(
        reconstruction_loss(recon, target).item(), rel=1e-5)
    spoiled = recon.clone().requires_grad_(True)
    with torch.no_grad():
        spoiled[1, :, 2:4, 2:4] += 50.0  # 4 of block 1's 64 pixels far off: a small target
    trimmed = trimmed_reconstruction_loss(spoiled, target, 4 / 64)
    clean_blocks = [reconstruction_loss(recon[i:i + 1], target[i:i + 1]) for i in (0, 2)]
    assert trimmed.item() < 2 * max(c.item() for c in clean_blocks)  # the target left out
    trimmed.backward()
    assert spoiled.grad[1, :, 2:4, 2:4].abs().max().item() == 0.0  # and it pulls nothing
    assert spoiled.grad[0].abs().sum().item() > 0
    with pytest.raises(ValueError, match="trim must be in"):
        trimmed_reconstruction_loss(recon, target, 1.0)
