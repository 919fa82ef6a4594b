"""The DMS2F-HAD network: dual spatial/spectral Mamba branches, gated fusion, LSS decoder.

Layout, for blocks of ``bands x 16 x 16``:
stem 1x1 conv -> spatial branch (3x3 conv, Mamba over the 256 pixel tokens) and spectral branch
(channel convs, pooled, overlapping channel groups as tokens, Mamba, broadcast) -> per-pixel gated
fusion -> LSS decoder blocks (Mamba over pixels + 3x3/5x5 convs) -> 1x1 conv back to the bands.
"""

from __future__ import annotations

from typing import cast

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch convention
from torch import nn

from .config import Dms2fConfig
from .mamba import ResidualMamba

Tensor = torch.Tensor


def _to_tokens(x: Tensor) -> Tensor:
    """Row-major pixel tokens; a view (no copy) when ``x`` is channels-last."""
    return x.flatten(2).transpose(1, 2)  # (b, H*W, C)


def _to_image(tokens: Tensor, side: int) -> Tensor:
    """Inverse of :func:`_to_tokens`; channels-last (a view) when ``tokens`` is contiguous."""
    return tokens.transpose(1, 2).unflatten(2, (side, side))  # (b, C, H, W)


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` whose mask comes from ``self.generator`` when one is set.

    With no generator (the default) it is ``nn.Dropout`` on torch's global generator. Trainers
    that run shards of a batch on parallel threads give each shard's replica its own generator,
    so the masks do not depend on which thread draws first. No parameters or buffers: model files
    are unchanged.
    """

    generator: torch.Generator | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)`` (training)."""
        if not self.training or self.p == 0.0 or self.generator is None:
            return super().forward(x)
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=self.generator)  # x's shape
        return x * keep / (1.0 - self.p)


def _mamba_stack(cfg: Dms2fConfig, d_model: int, depth: int) -> nn.Sequential:
    return nn.Sequential(*(ResidualMamba(d_model, cfg.d_state, cfg.d_conv, cfg.expand) for _ in range(depth)))


class SpatialBranch(nn.Module):
    """3x3 conv + BN + GELU, then residual Mamba layers over the row-major pixel tokens."""

    def __init__(self, cfg: Dms2fConfig) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(cfg.width, cfg.width, 3, padding=1), nn.BatchNorm2d(cfg.width), nn.GELU()
        )
        self.mamba = _mamba_stack(cfg, cfg.width, cfg.spatial_depth)

    def forward(self, x: Tensor) -> Tensor:
        """Spatial features of the stem output.

        Args:
            x: stem features, (b, width, S, S).

        Returns:
            Spatial features, (b, width, S, S).
        """
        tokens = self.mamba(_to_tokens(self.conv(x)))  # (b, S*S, width)
        return _to_image(tokens, x.shape[-1])  # (b, width, S, S)


class SpectralBranch(nn.Module):
    """One spectral descriptor per block, broadcast to every pixel.

    Channel convs (k7, k3, along the channel axis of each pixel) added to the identity, dropout,
    global average pool; groups of ``group_size`` channels every ``group_step`` channels (zero padded
    at the end) become tokens of a residual Mamba; flatten, Linear -> width, LayerNorm, GELU.
    """

    def __init__(self, cfg: Dms2fConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.conv7 = nn.Conv1d(1, 1, 7, padding=3)
        self.conv3 = nn.Conv1d(1, 1, 3, padding=1)
        self.dropout = SeededDropout(cfg.dropout)
        self.mamba = _mamba_stack(cfg, cfg.group_size, cfg.spectral_depth)
        self.head = nn.Sequential(
            nn.Linear(cfg.n_groups * cfg.group_size, cfg.width), nn.LayerNorm(cfg.width), nn.GELU()
        )

    def forward(self, x: Tensor) -> Tensor:
        """Spectral descriptor of each block.

        Args:
            x: stem features, (b, width, S, S).

        Returns:
            The descriptor broadcast to every pixel, (b, width, S, S).
        """
        batch, width, side, _ = x.shape
        spectra = self.mix_channels(_to_tokens(x).reshape(-1, width))  # (b*S*S, width)
        pooled = self.dropout(spectra).reshape(batch, side * side, width).mean(1)  # (b, width)
        padded = F.pad(pooled, (0, self.cfg.padded_width - width))  # (b, padded_width)
        groups = padded.unfold(1, self.cfg.group_size, self.cfg.group_step)  # (b, n_groups, group_size)
        feature = self.head(self.mamba(groups).flatten(1))  # (b, width)
        return feature[:, :, None, None].expand(-1, -1, side, side)  # (b, width, S, S)

    def mix_channels(self, spectra: Tensor) -> Tensor:
        """``spectra + conv7(spectra) + conv3(spectra)`` along the channel axis of each pixel.

        Computed as one small matrix product (:meth:`channel_conv_matrix`) instead of two
        single-channel convolutions over every pixel, whose backward dominated the branch on the
        CPU; the parity test holds it to the two zero-padded Conv1d.

        Args:
            spectra: one spectrum per row, (n, width).

        Returns:
            Mixed spectra, (n, width).
        """
        bias = cast(Tensor, self.conv7.bias) + cast(Tensor, self.conv3.bias)  # (1,)
        return torch.addmm(bias, spectra, self.channel_conv_matrix(spectra.shape[1]))  # (n, width)

    def channel_conv_matrix(self, width: int) -> Tensor:
        """``identity + conv7 + conv3`` (biases aside) as one (width, width) matrix.

        Args:
            width: channels per pixel.

        Returns:
            M with ``M[i, o]`` the weight of input channel ``i`` in output channel ``o``.
        """
        weight = self.conv7.weight.reshape(7) + F.pad(self.conv3.weight.reshape(3), (2, 2))  # (7,)
        matrix = torch.eye(width, dtype=weight.dtype, device=weight.device)  # (width, width)
        for tap in range(7):
            offset = tap - 3  # output o reads input o + offset
            if abs(offset) < width:
                shift = torch.ones(width - abs(offset), dtype=weight.dtype, device=weight.device)
                matrix = matrix + weight[tap] * torch.diag(shift, -offset)  # (width, width)
        return matrix


class GatedFusion(nn.Module):
    """``g = sigmoid(conv1x1([s; p]))`` per pixel, ``GELU(conv1x1(g s + (1 - g) p))``."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.gate = nn.Conv2d(2 * width, 1, 1)
        self.proj = nn.Conv2d(width, width, 1)

    def forward(self, spatial: Tensor, spectral: Tensor) -> Tensor:
        """Blend the branches pixel by pixel.

        Args:
            spatial: spatial branch output, (b, width, S, S).
            spectral: spectral branch output, (b, width, S, S).

        Returns:
            Fused features, (b, width, S, S).
        """
        g = torch.sigmoid(self.gate(torch.cat([spatial, spectral], dim=1)))  # (b, 1, S, S)
        return F.gelu(self.proj(g * spatial + (1 - g) * spectral))  # (b, width, S, S)


class LssBlock(nn.Module):
    """Local-global block: Mamba layers over the pixels plus 3x3 and 5x5 convs, merged by a 1x1 conv."""

    def __init__(self, cfg: Dms2fConfig) -> None:
        super().__init__()
        self.mamba = _mamba_stack(cfg, cfg.width, cfg.decoder_depth)
        self.local3 = nn.Conv2d(cfg.width, cfg.width, 3, padding=1)
        self.local5 = nn.Conv2d(cfg.width, cfg.width, 5, padding=2)
        self.merge = nn.Conv2d(3 * cfg.width, cfg.width, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Refine features with global (Mamba) and local (conv) context.

        Args:
            x: features, (b, width, S, S).

        Returns:
            Refined features, (b, width, S, S).
        """
        glob = _to_image(self.mamba(_to_tokens(x)), x.shape[-1])  # (b, width, S, S)
        paths = torch.cat([glob, self.local3(x), self.local5(x)], dim=1)  # (b, 3 width, S, S)
        return x + F.gelu(self.merge(paths))  # (b, width, S, S)


class Dms2fHad(nn.Module):
    """The DMS2F-HAD block reconstructor.

    Args:
        config: every size of the network.
    """

    def __init__(self, config: Dms2fConfig) -> None:
        super().__init__()
        self.config = config
        width = config.width
        self.stem = nn.Sequential(nn.Conv2d(config.bands, width, 1), nn.BatchNorm2d(width), nn.GELU())
        self.spatial = SpatialBranch(config)
        self.spectral = SpectralBranch(config)
        self.fusion = GatedFusion(width)
        self.decoder = nn.Sequential(*(LssBlock(config) for _ in range(config.decoder_blocks)))
        self.head = nn.Conv2d(width, config.bands, 1)

    def forward(self, x: Tensor) -> Tensor:
        """Reconstruct blocks.

        Args:
            x: normalised blocks in [0, 1], (batch, bands, block_size, block_size), float32.

        Returns:
            Reconstructions, (batch, bands, block_size, block_size).
        """
        x = x.contiguous(memory_format=torch.channels_last)  # pixel tokens become free views
        feat = self.stem(x)  # (b, width, S, S)
        fused = self.fusion(self.spatial(feat), self.spectral(feat))  # (b, width, S, S)
        return self.head(self.decoder(fused))  # (b, bands, S, S)

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
