#!/usr/bin/env python3
"""Checks a label.npy written by `engine labels` with numpy itself: it loads, has the seed's shape and dtype,
and equals the seed's table (../shared/seed/label.npy beside the repository, or the second argument).

usage: python3 scripts/check/labels_npy.py OUT/label.npy [SEED/label.npy]
"""
import os
import sys

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
ours_path = sys.argv[1]
seed_path = sys.argv[2] if len(sys.argv) > 2 else os.path.join(here, '..', '..', '..', 'shared', 'seed', 'label.npy')

ours = np.load(ours_path)  # allow_pickle stays False: a '<U' array needs no pickle
seed = np.load(seed_path)
print(f'{ours_path}: shape {ours.shape}, dtype {ours.dtype}, first row {ours[0].tolist()}')
print(f'{seed_path}: shape {seed.shape}, dtype {seed.dtype}')
checks = {
    'same shape': ours.shape == seed.shape,
    'same dtype': ours.dtype == seed.dtype,
    'same values': ours.shape == seed.shape and bool((ours == seed).all()),
    'same bytes': open(ours_path, 'rb').read() == open(seed_path, 'rb').read(),
}
for name, ok in checks.items():
    print(f'{name}: {"yes" if ok else "NO"}')
sys.exit(0 if all(checks.values()) else 1)
