"""The selective scan of Mamba-1 behind one signature, with a dispatcher over its implementations.

For every batch b, channel d and time t, with state h of size N (``d_state``)::

    delta  = softplus(delta + delta_bias)          (both optional)
    h_t    = exp(delta_t * A_d) * h_{t-1} + delta_t * B_t * u_t
    y_t    = <C_t, h_t> + D_d * u_t                (D optional)
    out_t  = y_t * silu(z_t)                       (z optional)

Implementations, all with the signature of mamba-ssm's ``selective_scan_fn``:

- :func:`selective_scan_ref`: plain sequential PyTorch loop; readable; the tests' reference.
- :func:`selective_scan_fast`: the shipped CPU path (numba kernels with a hand-written backward,
  or a chunked PyTorch scan with a hand-written backward when numba is missing).
- :func:`selective_scan_cuda`: mamba-ssm's fused CUDA kernel.

:func:`selective_scan` picks one from the tensors' device and what imports, and logs its choice
once per reason.
"""

from __future__ import annotations

import functools
import logging
from typing import Callable

import torch
import torch.nn.functional as F  # noqa: N812 - PyTorch convention

from .scan_torch import chunked_scan

LOG = logging.getLogger(__name__)

CUDA_HINT = "pip install mamba-ssm causal-conv1d for the fused kernel"
_logged: set[str] = set()

Tensor = torch.Tensor


def selective_scan_ref(
    u: Tensor,
    delta: Tensor,
    A: Tensor,  # noqa: N803 - names of the paper and of mamba-ssm
    B: Tensor,  # noqa: N803
    C: Tensor,  # noqa: N803
    D: Tensor | None = None,  # noqa: N803
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Sequential reference selective scan (autograd through a loop over time).

    Args:
        u: input, (batch, d_inner, L).
        delta: step sizes before bias and softplus, (batch, d_inner, L).
        A: state matrix (diagonal per channel), (d_inner, d_state).
        B: input-dependent input projection, (batch, d_state, L).
        C: input-dependent output projection, (batch, d_state, L).
        D: skip connection per channel, (d_inner,), or None.
        z: gate, (batch, d_inner, L), or None; the output is multiplied by silu(z).
        delta_bias: added to delta before the softplus, (d_inner,), or None.
        delta_softplus: apply softplus to delta.

    Returns:
        The output, (batch, d_inner, L), in the dtype of ``u``.
    """
    dtype_in = u.dtype
    work = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))  # noqa: N806
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]  # (b, D, L)
    if delta_softplus:
        delta = F.softplus(delta)  # (b, D, L)
    batch, dim, length = u.shape
    h = u.new_zeros(batch, dim, A.shape[1])  # (b, D, N)
    ys = []
    for t in range(length):
        decay = torch.exp(delta[:, :, t, None] * A)  # (b, D, N)
        drive = delta[:, :, t, None] * u[:, :, t, None] * B[:, None, :, t]  # (b, D, N)
        h = decay * h + drive  # (b, D, N)
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))  # (b, D)
    y = torch.stack(ys, dim=-1) if ys else u.new_zeros(batch, dim, 0)  # (b, D, L)
    if D is not None:
        y = y + u * D.to(work)[:, None]  # (b, D, L)
    if z is not None:
        y = y * F.silu(z.to(work))  # (b, D, L)
    return y.to(dtype_in)


def selective_scan_fast(  # noqa: D417 - parameters as selective_scan_ref
    u: Tensor,
    delta: Tensor,
    A: Tensor,  # noqa: N803
    B: Tensor,  # noqa: N803
    C: Tensor,  # noqa: N803
    D: Tensor | None = None,  # noqa: N803
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Fast selective scan without mamba-ssm (same contract as :func:`selective_scan_ref`).

    On the CPU with numba, the whole scan (bias, softplus, recurrence, skip and gate) runs in numba
    kernels with a hand-written backward; otherwise (no numba, or another device) the recurrence
    runs in a chunked PyTorch scan with a hand-written backward and the rest are autograd ops.
    Computes in float32 at least (float64 stays float64).

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus: as :func:`selective_scan_ref`.

    Returns:
        The output, (batch, d_inner, L), in the dtype of ``u``.
    """
    dtype_in = u.dtype
    work = torch.promote_types(u.dtype, torch.float32)
    u, delta, A, B, C = (t.to(work) for t in (u, delta, A, B, C))  # noqa: N806
    core = _numba_core() if u.device.type == "cpu" else None
    if core is not None:  # bias, softplus, skip and gate fused into the kernels
        skip, gate, bias = (None if t is None else t.to(work) for t in (D, z, delta_bias))
        return core(u, delta, A, B, C, skip, gate, bias, delta_softplus).to(dtype_in)  # (b, D, L)
    if delta_bias is not None:
        delta = delta + delta_bias.to(work)[:, None]  # (b, D, L)
    if delta_softplus:
        delta = F.softplus(delta)  # (b, D, L)
    y = chunked_scan(u, delta, A, B, C)  # (b, D, L)
    if D is not None:
        y = y + u * D.to(work)[:, None]  # (b, D, L)
    if z is not None:
        y = y * F.silu(z.to(work))  # (b, D, L)
    return y.to(dtype_in)


def selective_scan_cuda(  # noqa: D417 - parameters as selective_scan_ref
    u: Tensor,
    delta: Tensor,
    A: Tensor,  # noqa: N803
    B: Tensor,  # noqa: N803
    C: Tensor,  # noqa: N803
    D: Tensor | None = None,  # noqa: N803
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """mamba-ssm's fused CUDA selective scan (same contract as :func:`selective_scan_ref`).

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus: as :func:`selective_scan_ref`, on a
            CUDA device.

    Returns:
        The output, (batch, d_inner, L).

    Raises:
        ImportError: when mamba-ssm is not installed (the message says what to install).
    """
    kernel = _cuda_kernel()
    if kernel is None:
        raise ImportError(f"mamba-ssm is not installed: {CUDA_HINT}")
    return kernel(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


def selective_scan(  # noqa: D417 - parameters as selective_scan_ref
    u: Tensor,
    delta: Tensor,
    A: Tensor,  # noqa: N803
    B: Tensor,  # noqa: N803
    C: Tensor,  # noqa: N803
    D: Tensor | None = None,  # noqa: N803
    z: Tensor | None = None,
    delta_bias: Tensor | None = None,
    delta_softplus: bool = False,
) -> Tensor:
    """Selective scan on the best implementation for the tensors' device (logged once).

    CUDA tensors use mamba-ssm's kernel when it imports; everything else uses
    :func:`selective_scan_fast`.

    Args:
        u, delta, A, B, C, D, z, delta_bias, delta_softplus: as :func:`selective_scan_ref`.

    Returns:
        The output, (batch, d_inner, L).
    """
    impl = _pick(u.device)
    return impl(u, delta, A, B, C, D, z, delta_bias, delta_softplus)


def scan_backend_name(device: torch.device | str) -> str:
    """Human-readable name of the implementation :func:`selective_scan` uses on ``device``.

    Args:
        device: a torch device or its name ("cpu", "cuda:0").

    Returns:
        For example "mamba-ssm CUDA kernel" or "numba CPU kernel".
    """
    device = torch.device(device)
    if device.type == "cuda" and _cuda_kernel() is not None:
        return "mamba-ssm CUDA kernel"
    if device.type == "cpu" and _numba_core() is not None:
        return "numba CPU kernel"
    return "chunked PyTorch scan"


def _pick(device: torch.device) -> Callable[..., Tensor]:
    """Implementation for ``device``; logs the choice and its reason once."""
    if device.type == "cuda":
        if _cuda_kernel() is not None:
            _log_once("cuda", "selective scan: mamba-ssm CUDA kernel")
            return selective_scan_cuda
        _log_once("cuda-missing",
                  f"mamba-ssm not installed: using the chunked PyTorch scan on cuda; {CUDA_HINT}")
        return selective_scan_fast
    if _numba_core() is None:
        reason = _numba_import()[1] or "disabled"
        _log_once("numba-missing", f"numba not importable ({reason}): using the chunked PyTorch scan on the "
                  "CPU (about ten times slower); install the pinned numba from requirements.txt")
    else:
        _log_once("numba", "selective scan: numba CPU kernel")
    return selective_scan_fast


def _log_once(key: str, message: str) -> None:
    if key not in _logged:
        _logged.add(key)
        LOG.info(message)


@functools.cache
def _cuda_kernel() -> Callable[..., Tensor] | None:
    """mamba-ssm's ``selective_scan_fn``, or None when it does not import."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception as err:  # noqa: BLE001 - any import failure means "not usable"
        LOG.debug("mamba-ssm not usable: %s", err)
        return None
    return selective_scan_fn


@functools.cache
def _numba_import() -> tuple[Callable[..., Tensor] | None, str]:
    """The numba core scan and "", or None and why it does not import."""
    try:
        from .scan_numba import numba_scan
    except Exception as err:  # noqa: BLE001 - any import failure means "not usable"
        return None, str(err)
    return numba_scan, ""


def _numba_core() -> Callable[..., Tensor] | None:
    """The numba core scan, or None when numba does not import."""
    return _numba_import()[0]
