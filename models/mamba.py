"""The Mamba-1 layer (as mamba-ssm's ``Mamba`` module) and its residual pre-LayerNorm wrapper."""

from __future__ import annotations

import math
from typing import cast

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch convention
from torch import nn

from .causal_conv import causal_conv_silu
from .config import dt_rank as default_dt_rank
from .scan import selective_scan

Tensor = torch.Tensor


class Mamba(nn.Module):
    """Selective state-space layer: in_proj, causal depthwise conv, selective scan gated by z, out_proj.

    Args:
        d_model: token width.
        d_state: state size N of the scan.
        d_conv: kernel of the depthwise causal convolution.
        expand: ``d_inner = expand * d_model``.
        dt_min: smallest initial step size.
        dt_max: largest initial step size.
    """

    def __init__(
        self, d_model: int, d_state: int, d_conv: int, expand: int, dt_min: float = 0.001, dt_max: float = 0.1
    ) -> None:
        super().__init__()
        d_inner = expand * d_model
        self.d_inner, self.d_state, self.dt_rank = d_inner, d_state, default_dt_rank(d_model)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1, bias=True)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=True)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        a = torch.arange(1, d_state + 1, dtype=torch.float32).repeat(d_inner, 1)  # (D, N)
        self.A_log = nn.Parameter(torch.log(a))  # (D, N)
        self.D = nn.Parameter(torch.ones(d_inner))  # (D,)
        self._init_dt(dt_min, dt_max)

    def _init_dt(self, dt_min: float, dt_max: float, dt_floor: float = 1e-4) -> None:
        """mamba-ssm's step-size init: log-uniform dt in [dt_min, dt_max], stored as softplus^-1."""
        std = self.dt_rank**-0.5
        nn.init.uniform_(self.dt_proj.weight, -std, std)
        with torch.no_grad():
            u = torch.rand(self.d_inner)  # (D,)
            dt = torch.exp(u * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)).clamp(min=dt_floor)
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))  # (D,)

    def forward(self, x: Tensor) -> Tensor:
        """Mix the tokens of each sequence.

        Everything stays token-major (batch, L, channels) in memory; the scan gets (batch, D, L)
        views of it (see :func:`.scan_numba.numba_scan`), so no layout copies are made. ``in_proj``
        is applied as two products (x and z rows of its weight), which gives two contiguous
        outputs instead of two strided halves of one that the kernels would have to copy.

        Args:
            x: tokens, (batch, L, d_model).

        Returns:
            Mixed tokens, (batch, L, d_model).
        """
        weight = self.in_proj.weight  # (2D, d_model): the x rows, then the z rows
        x_in = F.linear(x, weight[: self.d_inner])  # (b, L, D), contiguous: no copy for the kernels
        z = F.linear(x, weight[self.d_inner :])  # (b, L, D), contiguous
        x_in = causal_conv_silu(x_in, self.conv1d.weight, cast(Tensor, self.conv1d.bias))  # (b, L, D)
        dt, b_mat, c_mat = self.x_proj(x_in).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.linear(dt, self.dt_proj.weight)  # (b, L, D); the bias goes to the scan
        a_mat = -torch.exp(self.A_log.float())  # (D, N)
        y = selective_scan(
            x_in.transpose(1, 2), delta.transpose(1, 2), a_mat,  # (b, D, L), (b, D, L), (D, N)
            b_mat.transpose(1, 2), c_mat.transpose(1, 2),  # (b, N, L) each
            self.D.float(), z=z.transpose(1, 2), delta_bias=self.dt_proj.bias.float(), delta_softplus=True,
        )  # (b, D, L)
        return self.out_proj(y.transpose(1, 2))  # (b, L, d_model)


class ResidualMamba(nn.Module):
    """``x + Mamba(LayerNorm(x))``.

    Args:
        d_model, d_state, d_conv, expand: as :class:`Mamba`.
    """

    def __init__(self, d_model: int, d_state: int, d_conv: int, expand: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.mixer = Mamba(d_model, d_state, d_conv, expand)

    def forward(self, x: Tensor) -> Tensor:
        """Residual Mamba mixing.

        Args:
            x: tokens, (batch, L, d_model).

        Returns:
            Tokens, (batch, L, d_model).
        """
        return x + self.mixer(self.norm(x))  # (b, L, d_model)
