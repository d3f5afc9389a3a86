#!/usr/bin/env python3
"""PyTorch CPU peer for the engine's small-image training benchmark (scripts/bench/train-small.mjs).

Trains a model spec (JSON, as the engine's: torch_model.py builds it) on raw uint8 NHWC images with the engine's
recipe: RMSprop (PyTorch's is Keras': alpha = rho, eps outside the square root), cross-entropy for a softmax head
(binary cross-entropy of the clamped logit for a sigmoid one), no augmentation, channels-last, `--threads`
threads, glibc kept from returning freed memory (without it PyTorch is several times slower in these VMs).

Serve mode (the default): `--warmup` untimed epochs, then one JSON line ({"ready": true, "torch": version});
after that each line "epoch" read on stdin runs one timed epoch and answers {"seconds": s, "loss": l, "acc": a},
until stdin closes, so that the benchmark interleaves PyTorch's epochs with the engine's.
"""

import argparse
import ctypes
import json
import math
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from torch_model import SpecNet

LOGIT_LIMIT = math.log((1 - 1e-7) / 1e-7)


def keep_freed_memory():
    """See train_cpu_torch.py: glibc otherwise trims and re-faults PyTorch's activation buffers every step."""
    try:
        libc = ctypes.CDLL('libc.so.6')
    except OSError:
        return False
    limit = 2**31 - 1
    return bool(libc.mallopt(-3, limit)) and bool(libc.mallopt(-1, limit))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--spec', required=True, help='the model spec as JSON')
    p.add_argument('--images', required=True, help='raw uint8 file, N x H x W x C (NHWC)')
    p.add_argument('--labels', required=True, help='raw uint8 file, N class indices')
    p.add_argument('--threads', type=int, default=2)
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--lr', type=float, default=1e-3)
    p.add_argument('--rho', type=float, default=0.9)
    p.add_argument('--epsilon', type=float, default=1e-7)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--bf16', action='store_true', help='bf16 autocast around forward and loss')
    p.add_argument('--seed', type=int, default=1)
    args = p.parse_args()
    keep_freed_memory()
    torch.set_num_interop_threads(args.threads)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    spec = json.loads(args.spec)
    h, w, c = spec['input']
    images = np.fromfile(args.images, dtype=np.uint8)
    labels = np.fromfile(args.labels, dtype=np.uint8)
    n = labels.size
    if images.size != n * h * w * c:
        sys.exit(f'train_small_torch: {args.images} holds {images.size} bytes, not {n} images of {h}x{w}x{c}')
    x_all = torch.from_numpy(images.reshape(n, h, w, c))
    y_all = torch.from_numpy(labels.astype(np.int64))
    model = SpecNet(spec).to(memory_format=torch.channels_last)
    optimizer = torch.optim.RMSprop(model.parameters(), lr=args.lr, alpha=args.rho, eps=args.epsilon)
    softmax = spec.get('head') == 'softmax'
    generator = torch.Generator().manual_seed(args.seed)

    def epoch():
        model.train()
        order = torch.randperm(n, generator=generator)
        total, correct = 0.0, 0
        for start in range(0, n, args.batch_size):
            idx = order[start:start + args.batch_size]
            x = x_all[idx].permute(0, 3, 1, 2).float().contiguous(memory_format=torch.channels_last).mul_(1 / 255)
            y = y_all[idx]
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=args.bf16):
                z = model(x)
            z = z.float()
            if softmax:
                loss = F.cross_entropy(z, y)
                correct += (z.argmax(1) == y).sum().item()
            else:
                zc = z.squeeze(1).clamp(-LOGIT_LIMIT, LOGIT_LIMIT)
                loss = F.binary_cross_entropy_with_logits(zc, y.float())
                correct += ((zc > 0) == (y > 0)).sum().item()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(idx)
        return total / n, correct / n

    for _ in range(args.warmup):
        epoch()
    print(json.dumps({'ready': True, 'torch': torch.__version__}), flush=True)
    for line in sys.stdin:
        if line.strip() != 'epoch':
            continue
        t0 = time.perf_counter()
        loss, acc = epoch()
        print(json.dumps({'seconds': time.perf_counter() - t0, 'loss': loss, 'acc': acc}), flush=True)


if __name__ == '__main__':
    main()
