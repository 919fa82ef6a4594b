"""The Mamba layer: same result as mamba-ssm's layout (Conv1d on (b, D, L), transposes), standard init."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch convention

from dms2f_had.models.mamba import Mamba, ResidualMamba
from dms2f_had.models.scan import selective_scan_ref


def mamba_ssm_layout(m: Mamba, x: torch.Tensor) -> torch.Tensor:
    """The forward pass written as mamba-ssm's ``Mamba.forward`` (slow path), with the reference scan."""
    length = x.shape[1]
    x_in, z = m.in_proj(x).transpose(1, 2).chunk(2, dim=1)
    x_in = F.silu(m.conv1d(x_in)[..., :length])
    dt, b_mat, c_mat = m.x_proj(x_in.transpose(1, 2)).split([m.dt_rank, m.d_state, m.d_state], dim=-1)
    delta = (dt @ m.dt_proj.weight.T).transpose(1, 2)
    y = selective_scan_ref(x_in, delta, -torch.exp(m.A_log), b_mat.transpose(1, 2), c_mat.transpose(1, 2),
                           m.D, z, m.dt_proj.bias, True)
    return m.out_proj(y.transpose(1, 2))


def test_forward_and_gradients_match_the_mamba_ssm_layout():
    torch.manual_seed(0)
    m = Mamba(d_model=16, d_state=8, d_conv=4, expand=2)
    x = torch.randn(3, 21, 16, requires_grad=True)
    ours = m(x)
    (g_ours,) = torch.autograd.grad(ours.square().sum(), x)
    ref = mamba_ssm_layout(m, x)
    (g_ref,) = torch.autograd.grad(ref.square().sum(), x)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-5)


def test_parameter_shapes_and_initialisation():
    m = Mamba(d_model=64, d_state=64, d_conv=4, expand=2)
    assert (m.d_inner, m.dt_rank) == (128, 4)
    assert m.in_proj.weight.shape == (256, 64) and m.in_proj.bias is None
    assert m.conv1d.weight.shape == (128, 1, 4) and m.conv1d.bias is not None
    assert m.x_proj.weight.shape == (4 + 128, 128) and m.out_proj.weight.shape == (64, 128)
    torch.testing.assert_close(m.A_log[5], torch.log(torch.arange(1, 65.0)))
    assert torch.equal(m.D.detach(), torch.ones(128))
    dt = F.softplus(m.dt_proj.bias.detach())
    assert dt.min() >= 1e-3 * (1 - 1e-4) and dt.max() <= 0.1 * (1 + 1e-4)
    assert m.dt_proj.weight.abs().max() <= 1 / math.sqrt(4)


def test_residual_wrapper_is_identity_plus_mamba_of_the_norm():
    torch.manual_seed(1)
    block = ResidualMamba(12, 4, 4, 2)
    x = torch.randn(2, 11, 12)
    torch.testing.assert_close(block(x), x + block.mixer(block.norm(x)))
