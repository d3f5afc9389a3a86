#!/usr/bin/env python3
"""PyTorch GPU peer for the engine's CUDA training benchmark (scripts/bench/train-gpu.mjs).

The same work as train_cpu_torch.py (seed7, Keras' augmentation through affine_grid/grid_sample, clipped BCE,
RMSprop, Glorot init; model and helpers imported from it) with the data already on the GPU: the uint8 images
and labels are uploaded once, each step gathers its batch on the device, warps it, scales it and trains in
eager mode, channels_last. Per step only the batch's 2x3 warp matrices go up (the engine sends indices and
augmentation parameters); the loss is accumulated on the device and read once per epoch.

Precision: fp32 (TF32 off for convolutions and matmuls), tf32 (TF32 on, PyTorch's default for cuDNN
convolutions), bf16 (autocast to bfloat16 around forward and loss, TF32 on).

Epoch mode (default): `--warmup` untimed epochs, then `--epochs` timed epochs; one JSON line on stdout.
Throughput mode (`--synthetic N`): the loaded images repeated to N images on the device; `--warmup-steps`
untimed steps, then `--epochs` timed epochs over the N images; images/s in the JSON line.
`--device cpu` runs the same code on the CPU (a smoke test where no GPU is present).
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_cpu_torch import augment_thetas, build_model, load_data, loss_fn  # noqa: E402


def fail(message):
    print(f"train_gpu_torch: error: {message}", file=sys.stderr)
    sys.exit(1)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', required=True, help='raw uint8 file, N x 150x150x3 (NHWC, RGB)')
    p.add_argument('--labels', required=True, help='raw uint8 file, N labels in {0, 1}')
    p.add_argument('--device', default='cuda', help="'cuda' (default), 'cuda:K' or 'cpu'")
    p.add_argument('--precision', choices=['fp32', 'tf32', 'bf16'], default='fp32')
    p.add_argument('--batch-size', type=int, default=32)
    p.add_argument('--epochs', type=int, default=20, help='timed epochs (default 20)')
    p.add_argument('--warmup', type=int, default=1, help='untimed epochs first (default 1)')
    p.add_argument('--warmup-steps', type=int, default=0, help='untimed steps first (throughput mode)')
    p.add_argument('--synthetic', type=int, metavar='N', help='repeat the images to N images on the device')
    p.add_argument('--augment', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--seed', type=int, default=1)
    args = p.parse_args()
    if args.batch_size < 1 or args.epochs < 1 or args.warmup < 0 or args.warmup_steps < 0:
        p.error('--batch-size and --epochs must be >= 1, --warmup and --warmup-steps >= 0')
    if args.synthetic is not None and args.synthetic < 1:
        p.error('--synthetic must be >= 1')
    return args


def augment(x, generator, device):
    """Keras' shear/zoom/flip of a float NCHW batch in 0..255: parameters drawn on the host, warp on the device."""
    b = x.shape[0]
    shear = (torch.rand(b, generator=generator, dtype=torch.float64) * 2 - 1) * 0.2
    zx = 0.8 + 0.4 * torch.rand(b, generator=generator, dtype=torch.float64)
    zy = 0.8 + 0.4 * torch.rand(b, generator=generator, dtype=torch.float64)
    flip = torch.rand(b, generator=generator) < 0.5
    theta = augment_thetas(shear, zx, zy, flip).to(device, non_blocking=True)
    grid = F.affine_grid(theta, list(x.shape), align_corners=True)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=True)


def synchronize(device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def main():
    args = parse_args()
    device = torch.device(args.device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        fail('CUDA is not available to PyTorch here (use --device cpu for a smoke run)')
    tf32 = args.precision != 'fp32'
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    images, labels = load_data(args.images, args.labels)
    if args.synthetic is not None:
        reps = -(-args.synthetic // images.shape[0])
        images = images.repeat(reps, 1, 1, 1)[:args.synthetic].contiguous()
        labels = labels.repeat(reps)[:args.synthetic].contiguous()
    images = images.to(device)  # [N, 150, 150, 3] uint8
    labels = labels.to(device)  # [N] float32
    n = images.shape[0]

    model = build_model().to(device).to(memory_format=torch.channels_last)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    bf16 = args.precision == 'bf16'

    def step(idx):
        x = images[idx].permute(0, 3, 1, 2).float()  # NCHW view of NHWC memory: channels_last
        if args.augment:
            x = augment(x, generator, device)
        x = x.contiguous(memory_format=torch.channels_last).mul_(1 / 255)
        y = labels[idx]
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(x)
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss.detach() * len(idx)

    def epoch():
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total = torch.zeros((), device=device)
        for start in range(0, n, args.batch_size):
            total += step(order[start:start + args.batch_size])
        return total

    for _ in range(args.warmup_steps):
        step(torch.randint(0, n, (args.batch_size,), generator=generator).to(device))
    for i in range(args.warmup):
        t0 = time.perf_counter()
        epoch()
        synchronize(device)
        print(f'warmup epoch {i + 1}: {time.perf_counter() - t0:.4f} s', file=sys.stderr)
    synchronize(device)
    seconds = []
    loss = float('nan')
    for _ in range(args.epochs):
        t0 = time.perf_counter()
        total = epoch()
        synchronize(device)
        seconds.append(time.perf_counter() - t0)
        loss = total.item() / n
    median = statistics.median(seconds)
    print(json.dumps({
        'torch': torch.__version__,
        'device': torch.cuda.get_device_name(device) if device.type == 'cuda' else 'cpu',
        'precision': args.precision,
        'batch_size': args.batch_size,
        'augment': args.augment,
        'images': n,
        'epoch_seconds': [round(s, 5) for s in seconds],
        'median_epoch_seconds': round(median, 5),
        'images_per_second': round(n / median, 1),
        'final_loss': round(loss, 6),
    }))


if __name__ == '__main__':
    main()
