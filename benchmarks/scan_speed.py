"""Time the selective scan and one training step of the whole network on this machine.

Baseline: the textbook selective scan (materialise exp(delta A) and delta B u as
(batch, L, D, N) tensors, loop over time), FORWARD only, without autograd. Ours: the scan the
dispatcher uses on the CPU, forward AND backward. Then one full training step (forward, loss,
backward, Adam step) of the network on 32 blocks of 16x16x189 at the paper and fast presets.
Like for like, the plain sequential reference of the tests (``selective_scan_ref``, autograd
through a loop over time) is timed forward AND backward too. The last two lines printed are
``scan_speedup_vs_reference=<textbook forward / ours forward+backward>`` and
``scan_fwd_bwd_speedup_vs_sequential_ref=<selective_scan_ref forward+backward / ours forward+backward>``.

    python benchmarks/scan_speed.py --repeats 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Callable

import torch
import torch.nn.functional as F  # noqa: N812

from dms2f_had.dms2f_plugin.engine.app.bench import machine_info
from dms2f_had.models import (
    Dms2fConfig,
    Dms2fHad,
    corrupt_blocks,
    reconstruction_loss,
    scan_backend_name,
    selective_scan,
    selective_scan_ref,
)


def textbook_scan(u, delta, A, B, C, D, z, delta_bias):  # noqa: N803
    """The textbook formulation (as mamba-ssm's ``selective_scan_ref``)."""
    delta = F.softplus(delta + delta_bias[:, None])  # (b, D, L)
    delta_a = torch.exp(torch.einsum("bdl,dn->bldn", delta, A))  # (b, L, D, N)
    delta_bu = torch.einsum("bdl,bnl,bdl->bldn", delta, B, u)  # (b, L, D, N)
    h = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])  # (b, D, N)
    ys = []
    for t in range(u.shape[2]):
        h = delta_a[:, t] * h + delta_bu[:, t]  # (b, D, N)
        ys.append(torch.einsum("bdn,bn->bd", h, C[:, :, t]))  # (b, D)
    y = torch.stack(ys, dim=2) + u * D[:, None]  # (b, D, L)
    return y * F.silu(z)  # (b, D, L)


def scan_inputs(batch: int, dim: int, length: int, n_state: int, grad: bool) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    shapes = [(batch, dim, length), (batch, dim, length), (dim, n_state), (batch, n_state, length),
              (batch, n_state, length), (dim,), (batch, dim, length), (dim,)]
    tensors = [torch.randn(s, generator=g) for s in shapes]
    tensors[2] = -torch.arange(1, n_state + 1.0).repeat(dim, 1)  # A as initialised: (D, N)
    tensors[1] = tensors[1] - 4.0  # softplus(delta) around 0.02, as initialised
    return [t.requires_grad_(grad) for t in tensors]


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall time and median process CPU time of ``repeats`` calls after one warm-up call."""
    fn()
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def scan_fwd_bwd(inputs: list[torch.Tensor], scan: Callable[..., torch.Tensor] = selective_scan) -> None:
    u, delta, A, B, C, D, z, bias = inputs  # noqa: N806
    y = scan(u, delta, A, B, C, D, z=z, delta_bias=bias, delta_softplus=True)
    y.backward(torch.ones_like(y))


def train_step_fn(preset: str, bands: int, batch: int) -> Callable[[], None]:
    torch.manual_seed(0)
    model = Dms2fHad(Dms2fConfig.preset(preset, bands)).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-4, fused=True)
    clean = torch.rand(batch, 16, 16, bands).permute(0, 3, 1, 2)  # (b, C, 16, 16), channels-last as fitted
    generator = torch.Generator().manual_seed(0)

    def step() -> None:
        loss = reconstruction_loss(model(corrupt_blocks(clean, generator)), clean)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed calls per measurement (median)")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--d-inner", type=int, default=128)
    parser.add_argument("--d-state", type=int, default=64)
    parser.add_argument("--bands", type=int, default=189)
    parser.add_argument("--skip-textbook", action="store_true", help="skip the slow baseline")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = (args.batch, args.d_inner, args.length, args.d_state)
    print(f"{machine_info().get('cpu_model', '?')}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads on {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, scan backend: {scan_backend_name('cpu')}")
    print(f"scan sizes: batch {sizes[0]}, d_inner {sizes[1]}, L {sizes[2]}, d_state {sizes[3]}; "
          f"median of {args.repeats}; CPU = process CPU time, all threads")
    rows = []
    ref_fwd = seq_fwd_bwd = float("nan")
    inputs = scan_inputs(*sizes, grad=True)
    if not args.skip_textbook:
        plain = scan_inputs(*sizes, grad=False)
        with torch.no_grad():
            ref_fwd, ref_cpu = timed(lambda: textbook_scan(*plain), max(1, args.repeats // 2))
        rows.append(("textbook scan, forward (no autograd)", ref_fwd, ref_cpu))
        seq_fwd_bwd, seq_cpu = timed(lambda: scan_fwd_bwd(inputs, selective_scan_ref),
                                     max(1, args.repeats // 2))
        rows.append(("sequential reference scan, forward + backward", seq_fwd_bwd, seq_cpu))
    with torch.no_grad():
        rows.append(("our scan, forward (no autograd)",
                     *timed(lambda: selective_scan(*inputs[:7], delta_bias=inputs[7], delta_softplus=True),
                            args.repeats)))
    ours, ours_cpu = timed(lambda: scan_fwd_bwd(inputs), args.repeats)
    rows.append(("our scan, forward + backward", ours, ours_cpu))
    for preset in ("paper", "fast"):
        step = timed(train_step_fn(preset, args.bands, args.batch), args.repeats)
        name = f"training step, {preset} preset (fwd+bwd+Adam, {args.batch}x{args.bands}x16x16)"
        rows.append((name, *step))
    width = max(len(row[0]) for row in rows)
    print(f"{'measurement':<{width}}  wall s   CPU s")
    for name, wall, cpu in rows:
        print(f"{name:<{width}}  {wall:6.3f}  {cpu:6.3f}")
    print(f"scan_speedup_vs_reference={ref_fwd / ours:.1f}")
    print(f"scan_fwd_bwd_speedup_vs_sequential_ref={seq_fwd_bwd / ours:.1f}")


if __name__ == "__main__":
    main()
