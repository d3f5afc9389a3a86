#!/usr/bin/env python3
"""PyTorch CPU peer for the engine's training benchmark (see shared SPEC.md, sections 1-5).

Trains "seed7" on pre-decoded 150x150x3 uint8 images with the seed's recipe
(Keras 2.1.5 augmentation, clipped BCE, RMSprop, Glorot init) so the engine's
epoch time can be quoted as a ratio against a well-known framework running the
same work on the same machine.

Benchmark mode (default): `--warmup` untimed epochs, then `--epochs` timed
epochs; prints one JSON line on stdout.
Serve mode (`--serve`): `--warmup` untimed epochs, then one JSON line
({"ready": true, "torch": version}); after that each line "epoch" read on stdin
runs one timed epoch and answers {"seconds": s}, until stdin closes. The engine's
benchmark uses it to interleave PyTorch's epochs with its own, so both see the
same moments of a noisy machine.
Replica mode (`--train-epochs K --val-images F --val-labels F`): trains K epochs
and prints one JSON line per epoch with the validation accuracy, as a reference
learning curve for the recipe.
"""

import argparse
import ctypes
import json
import math
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SIZE = 150
IMAGE_BYTES = SIZE * SIZE * 3
# Keras clips probabilities to [eps, 1-eps] before the log; on the logit that is this bound.
LOGIT_LIMIT = math.log((1 - 1e-7) / 1e-7)
# Keras centres its transforms on h/2 + 0.5 (not the true centre 74.5); kept for fidelity.
CENTRE = SIZE / 2 + 0.5


def fail(message):
    print(f"train_cpu_torch: error: {message}", file=sys.stderr)
    sys.exit(1)


def keep_freed_memory():
    """Stops glibc from handing activation buffers back to the kernel after every step.

    PyTorch's CPU allocator calls malloc/free for each tensor; glibc serves blocks over its
    mmap threshold (conv1's batch-32 activations are ~90 MB) with fresh mmaps and trims the
    heap on free, so every step page-faults hundreds of MB anew. In this project's VMs that
    made a 500-image epoch ~10x slower (26 s vs 2.1 s), which would make the peer a strawman.
    Returns whether both settings took effect (false off glibc).
    """
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    limit = 2**31 - 1  # mallopt takes an int
    return bool(libc.mallopt(m_mmap_threshold, limit)) and bool(libc.mallopt(m_trim_threshold, limit))


def load_data(images_path, labels_path):
    """Returns (uint8 NHWC tensor, float32 label tensor), checking the caller's files."""
    try:
        images = np.fromfile(images_path, dtype=np.uint8)
        labels = np.fromfile(labels_path, dtype=np.uint8)
    except OSError as e:
        fail(f"cannot read input: {e}")
    if images.size == 0 or images.size % IMAGE_BYTES != 0:
        fail(f"{images_path}: size {images.size} is not a positive multiple of {IMAGE_BYTES} (150x150x3 uint8)")
    n = images.size // IMAGE_BYTES
    if labels.size != n:
        fail(f"{labels_path}: {labels.size} labels for {n} images")
    if labels.max() > 1:
        fail(f"{labels_path}: labels must be 0 or 1")
    return (torch.from_numpy(images.reshape(n, SIZE, SIZE, 3)),
            torch.from_numpy(labels.astype(np.float32)))


class FlattenHWC(nn.Module):
    """Flatten in Keras' channels-last order so fc1 weights line up with Keras' layout."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


def build_model():
    layers = []
    for c_in, c_out in [(3, 32), (32, 32), (32, 32), (32, 64), (64, 64)]:
        layers += [nn.Conv2d(c_in, c_out, 3), nn.ReLU(), nn.MaxPool2d(2)]
    layers += [FlattenHWC(), nn.Linear(256, 64), nn.ReLU(), nn.Dropout(0.5), nn.Linear(64, 1)]
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            # PyTorch's fans for (out, in, kh, kw) equal Keras' kh*kw*in / kh*kw*out.
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return model


def loss_fn(logits, targets):
    # Clamping the logit reproduces Keras' probability clipping, including its zero gradient
    # beyond the clip; the loss is taken in fp32 even under bf16 autocast.
    z = logits.float().squeeze(1).clamp(-LOGIT_LIMIT, LOGIT_LIMIT)
    return F.binary_cross_entropy_with_logits(z, targets)


def augment_thetas(shear_deg, zx, zy, flip):
    """Per-image 2x3 `affine_grid` matrices for Keras' shear/zoom/flip.

    Keras (SPEC section 3) maps output pixel (row, col) to input pixel (row, col) with
    offset(o) . Shear(s) . Zoom(zx on rows, zy on cols) . reset(-o). grid_sample wants the
    map in normalised (x=col, y=row) coordinates, with align_corners=True meaning
    pixel p <-> p / ((SIZE-1)/2) - 1.  So theta = N . P . M_rowcol . P . N^-1, where P swaps
    row/col and N normalises; a left-right flip of the output is x_out -> -x_out, folded in
    on the right so no separate flip pass is needed.
    """
    b = shear_deg.shape[0]
    s = torch.deg2rad(shear_deg)
    eye = torch.eye(3, dtype=torch.float64).expand(b, 3, 3)

    transform = eye.clone()
    transform[:, 0, 0] = zx
    transform[:, 0, 1] = -torch.sin(s) * zy
    transform[:, 1, 1] = torch.cos(s) * zy

    offset = torch.eye(3, dtype=torch.float64)
    offset[:2, 2] = CENTRE
    reset = torch.eye(3, dtype=torch.float64)
    reset[:2, 2] = -CENTRE
    swap = torch.tensor([[0., 1., 0.], [1., 0., 0.], [0., 0., 1.]], dtype=torch.float64)
    half = (SIZE - 1) / 2
    normalise = torch.tensor([[1 / half, 0., -1.], [0., 1 / half, -1.], [0., 0., 1.]], dtype=torch.float64)

    mirror = eye.clone()
    mirror[:, 0, 0] = torch.where(flip, -1.0, 1.0)

    theta = normalise @ swap @ offset @ transform @ reset @ swap @ torch.linalg.inv(normalise) @ mirror
    return theta[:, :2, :].float()


def augment(x, generator):
    """Random shear/zoom/flip of a float NCHW batch in 0..255, drawn per image like Keras."""
    b = x.shape[0]
    shear = (torch.rand(b, generator=generator, dtype=torch.float64) * 2 - 1) * 0.2
    zx = 0.8 + 0.4 * torch.rand(b, generator=generator, dtype=torch.float64)
    zy = 0.8 + 0.4 * torch.rand(b, generator=generator, dtype=torch.float64)
    flip = torch.rand(b, generator=generator) < 0.5
    grid = F.affine_grid(augment_thetas(shear, zx, zy, flip), list(x.shape), align_corners=True)
    # 'border' clamps coordinates to the edge, which is what scipy's order-1 mode='nearest' does.
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=True)


def make_batch(images, idx, args, generator, train):
    # NHWC uint8 permuted to NCHW is already channels-last in memory.
    x = images[idx].permute(0, 3, 1, 2).float()
    if train and args.augment:
        x = augment(x, generator)
    x = x.contiguous(memory_format=torch.channels_last if args.channels_last else torch.contiguous_format)
    return x.mul_(1 / 255)


def autocast(args):
    return torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.bf16)


def train_epoch(model, optimizer, images, labels, args, generator):
    """One shuffled pass (last partial batch kept); returns (mean loss, accuracy)."""
    model.train()
    n = images.shape[0]
    order = torch.randperm(n, generator=generator)
    total_loss = 0.0
    correct = 0
    for start in range(0, n, args.batch_size):
        idx = order[start:start + args.batch_size]
        x = make_batch(images, idx, args, generator, train=True)
        y = labels[idx]
        with autocast(args):
            logits = model(x)
            loss = loss_fn(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += ((logits.detach().float().squeeze(1) > 0) == (y > 0.5)).sum().item()
    return total_loss / n, correct / n


@torch.no_grad()
def evaluate(model, images, labels, args):
    model.eval()
    n = images.shape[0]
    total_loss = 0.0
    correct = 0
    for start in range(0, n, args.batch_size):
        idx = torch.arange(start, min(start + args.batch_size, n))
        x = make_batch(images, idx, args, None, train=False)
        y = labels[idx]
        with autocast(args):
            logits = model(x)
        total_loss += loss_fn(logits, y).item() * len(idx)
        correct += ((logits.float().squeeze(1) > 0) == (y > 0.5)).sum().item()
    return total_loss / n, correct / n


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--images', required=True, help='raw uint8 file, N x 150x150x3 (NHWC, RGB)')
    p.add_argument('--labels', required=True, help='raw uint8 file, N labels (0 = man, 1 = woman)')
    p.add_argument('--threads', type=int, default=2, help='intra- and inter-op threads (default 2)')
    p.add_argument('--batch-size', type=int, default=32, help='(default 32)')
    p.add_argument('--epochs', type=int, default=3, help='timed epochs (default 3)')
    p.add_argument('--warmup', type=int, default=1, help='untimed epochs first (default 1)')
    p.add_argument('--channels-last', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--augment', action=argparse.BooleanOptionalAction, default=True)
    p.add_argument('--malloc-tuning', action=argparse.BooleanOptionalAction, default=True,
                   help='keep freed memory in the process (default on; see keep_freed_memory)')
    p.add_argument('--bf16', action='store_true', help='bf16 autocast around forward and loss')
    p.add_argument('--serve', action='store_true', help='serve mode: one timed epoch per "epoch" line on stdin')
    p.add_argument('--seed', type=int, default=1, help='seeds init, shuffling, augmentation and dropout (default 1)')
    p.add_argument('--train-epochs', type=int, metavar='K',
                   help='replica mode: train K epochs, report val accuracy per epoch')
    p.add_argument('--val-images', help='replica mode: validation images (same format)')
    p.add_argument('--val-labels', help='replica mode: validation labels')
    args = p.parse_args()
    if args.threads < 1 or args.batch_size < 1 or args.epochs < 1 or args.warmup < 0:
        p.error('--threads, --batch-size and --epochs must be >= 1, --warmup >= 0')
    if args.train_epochs is not None:
        if args.train_epochs < 1:
            p.error('--train-epochs must be >= 1')
        if not (args.val_images and args.val_labels):
            p.error('--train-epochs needs --val-images and --val-labels')
    elif args.val_images or args.val_labels:
        p.error('--val-images/--val-labels only apply with --train-epochs')
    return args


def main():
    args = parse_args()
    malloc_tuned = args.malloc_tuning and keep_freed_memory()
    # Inter-op threads can only be set before any parallel work has started.
    torch.set_num_interop_threads(args.threads)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)

    images, labels = load_data(args.images, args.labels)
    model = build_model()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    # PyTorch's RMSprop is Keras': a = alpha*a + (1-alpha)*g^2 from a = 0, p -= lr*g/(sqrt(a)+eps).
    optimizer = torch.optim.RMSprop(model.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)

    if args.train_epochs is not None:
        val_images, val_labels = load_data(args.val_images, args.val_labels)
        for epoch in range(1, args.train_epochs + 1):
            t0 = time.perf_counter()
            train_loss, train_acc = train_epoch(model, optimizer, images, labels, args, generator)
            seconds = time.perf_counter() - t0
            val_loss, val_acc = evaluate(model, val_images, val_labels, args)
            print(json.dumps({'epoch': epoch, 'train_loss': round(train_loss, 5), 'train_acc': round(train_acc, 5),
                              'val_loss': round(val_loss, 5), 'val_acc': round(val_acc, 5),
                              'seconds': round(seconds, 3)}), flush=True)
        return

    for i in range(args.warmup):
        t0 = time.perf_counter()
        train_epoch(model, optimizer, images, labels, args, generator)
        print(f'warmup epoch {i + 1}: {time.perf_counter() - t0:.3f} s', file=sys.stderr)
    if args.serve:
        print(json.dumps({'ready': True, 'torch': torch.__version__, 'malloc_tuned': malloc_tuned}), flush=True)
        for line in sys.stdin:
            if line.strip() != 'epoch':
                fail(f'serve mode reads "epoch" lines, got {line.strip()!r}')
            t0 = time.perf_counter()
            train_epoch(model, optimizer, images, labels, args, generator)
            print(json.dumps({'seconds': round(time.perf_counter() - t0, 4)}), flush=True)
        return
    epoch_seconds = []
    for i in range(args.epochs):
        t0 = time.perf_counter()
        loss, _ = train_epoch(model, optimizer, images, labels, args, generator)
        epoch_seconds.append(time.perf_counter() - t0)
        print(f'epoch {i + 1}: {epoch_seconds[-1]:.3f} s, loss {loss:.4f}', file=sys.stderr)
    median = statistics.median(epoch_seconds)
    print(json.dumps({
        'torch': torch.__version__,
        'threads': args.threads,
        'batch_size': args.batch_size,
        'bf16': args.bf16,
        'channels_last': args.channels_last,
        'augment': args.augment,
        'malloc_tuned': malloc_tuned,
        'images': images.shape[0],
        'epoch_seconds': [round(s, 4) for s in epoch_seconds],
        'median_epoch_seconds': round(median, 4),
        'images_per_second': round(images.shape[0] / median, 2),
        'final_loss': round(loss, 6),
    }))


if __name__ == '__main__':
    main()
