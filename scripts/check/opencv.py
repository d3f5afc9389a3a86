#!/usr/bin/env python3
"""The accuracy of an exported engine model under OpenCV's DNN module, on a folder of class subfolders.

Loads MODEL.onnx with cv2.dnn.readNetFromONNX, reads its metadata_props (classes, head, input size, channels,
layout, dtype, scale, resize rule, output name) and feeds every image of FOLDER/<class>/ exactly as they say, as
`engine eval` does: decoded without the EXIF orientation, converted to the model's channels (alpha dropped,
grey repeated to RGB; a colour image to grey with PIL's convert('L') formula; 16-bit samples keep their high
byte), resized with PIL's NEAREST rule (source index from the running sum of src/dst, aspect not kept), times
float32(scale), NCHW or NHWC. The predicted class is the argmax of the probabilities (the first of equal ones)
for a softmax head, class 1 iff P(class 1) > 0.5 for a sigmoid head. Prints one line, or JSON with the
predicted class of every image (in the engine's file order) for comparing with `engine eval --json`.

FOLDER may instead hold the MNIST family's IDX files (Fashion-MNIST's, gzipped or not): `--split test|train`
reads that split, its labels being class indices, as `engine eval test --data FOLDER` does.

usage: /usr/bin/python3 scripts/check/opencv.py MODEL.onnx FOLDER [--split test|train] [--json] [--batch N]
Needs OpenCV's Python module and NumPy (Debian: python3-opencv); exits 2 on bad input.
Formats the engine decodes itself or differently (CMYK JPEGs, ICC profiles) may differ from `engine eval`.
"""
import argparse
import gzip
import json
import os
import sys

import numpy as np

try:
    import cv2
except ImportError:
    print('opencv.py: the python module cv2 is missing (Debian: apt-get install python3-opencv)', file=sys.stderr)
    sys.exit(2)

# src/data/discover.ts' IMAGE_EXTENSIONS
IMAGE_EXTENSIONS = {'.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp'}


def fail(message):
    print(f'opencv.py: {message}', file=sys.stderr)
    sys.exit(2)


def varint(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def fields(buf):
    """(field number, wire type, value) of a protobuf message; length-delimited values as bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            size, pos = varint(buf, pos)
            value, pos = buf[pos:pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise ValueError(f'protobuf wire type {wire}')
        yield number, wire, value


def metadata_props(path):
    """ModelProto.metadata_props (field 14: StringStringEntryProto key = 1, value = 2), without the onnx package."""
    with open(path, 'rb') as f:
        buf = f.read()
    meta = {}
    for number, wire, value in fields(buf):
        if number == 14 and wire == 2:
            entry = {n: v.decode('utf-8') for n, w, v in fields(value) if w == 2}
            meta[entry.get(1, '')] = entry.get(2, '')
    return meta


def model_interface(path):
    try:
        meta = metadata_props(path)
    except (OSError, ValueError, IndexError) as err:
        fail(f'{path}: cannot read the model ({err})')
    missing = [k for k in ('classes', 'input_height', 'input_width', 'input_channels', 'input_layout', 'input_dtype', 'scale', 'resize', 'output') if k not in meta]
    if missing:
        fail(f"{path}: not an engine model: metadata_props lacks {', '.join(missing)}")
    m = {
        'classes': json.loads(meta['classes']),
        'head': meta.get('head', 'sigmoid'),
        'height': int(meta['input_height']),
        'width': int(meta['input_width']),
        'channels': int(meta['input_channels']),
        'layout': meta['input_layout'],
        'dtype': meta['input_dtype'],
        'scale': float(meta['scale']),
        'resize': meta['resize'],
        'output': meta['output'],
    }
    if m['resize'] not in ('pil-nearest', 'none'):
        fail(f"{path}: resize rule '{m['resize']}' is not implemented here (known: pil-nearest, none)")
    if m['layout'] not in ('NCHW', 'NHWC') or m['dtype'] not in ('float32', 'uint8') or m['channels'] not in (1, 3):
        fail(f"{path}: cannot feed {m['channels']}-channel {m['dtype']} {m['layout']} input")
    return m


def list_folder(folder, classes):
    """The engine's listing: sorted class folders, the images directly in each, sorted; hidden entries ignored."""
    try:
        found = sorted(e for e in os.listdir(folder) if not e.startswith('.') and os.path.isdir(os.path.join(folder, e)))
    except OSError as err:
        fail(f'{folder}: {err.strerror}')
    if sorted(found) != sorted(classes):
        fail(f"class folders of {folder} ({', '.join(found)}) do not match the model's classes ({', '.join(classes)})")
    files, labels = [], []
    for name in found:
        d = os.path.join(folder, name)
        images = sorted(f for f in os.listdir(d) if not f.startswith('.') and os.path.splitext(f)[1].lower() in IMAGE_EXTENSIONS and os.path.isfile(os.path.join(d, f)))
        if not images:
            fail(f"empty class folder '{name}' ({d})")
        files += [os.path.join(d, f) for f in images]
        labels += [classes.index(name)] * len(images)
    return files, np.array(labels)


def read_idx_split(folder, split):
    """The IDX split's images [N, H, W, 1] uint8 and labels, from FOLDER/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]."""
    stem = {'train': 'train', 'test': 't10k'}.get(split) or fail(f"--split must be train or test, got '{split}'")

    def read(name, magic):
        for path in (os.path.join(folder, name + '.gz'), os.path.join(folder, name)):
            if os.path.isfile(path):
                with (gzip.open if path.endswith('.gz') else open)(path, 'rb') as f:
                    buf = f.read()
                if len(buf) < 8 or int.from_bytes(buf[:4], 'big') != magic:
                    fail(f'{path}: not an IDX file of magic {magic:#x}')
                return path, buf
        fail(f'{folder}: no {name}[.gz]')

    ipath, images = read(f'{stem}-images-idx3-ubyte', 0x803)
    lpath, labels = read(f'{stem}-labels-idx1-ubyte', 0x801)
    n, h, w = (int.from_bytes(images[4 * i:4 * i + 4], 'big') for i in (1, 2, 3))
    if len(images) != 16 + n * h * w or len(labels) != 8 + n:
        fail(f'{ipath}, {lpath}: sizes do not match their headers')
    return np.frombuffer(images, np.uint8, offset=16).reshape(n, h, w, 1), np.frombuffer(labels, np.uint8, offset=8).astype(int)


def fit(m, img, name):
    """The image at the model's size by its resize rule (PIL NEAREST, or none: it must be that size already)."""
    if m['resize'] == 'none':
        if img.shape[:2] != (m['height'], m['width']):
            fail(f"{name} is {img.shape[1]}x{img.shape[0]}, the model takes {m['width']}x{m['height']} and does not resize")
        return img
    return img[nearest_indices_pil(img.shape[0], m['height'])][:, nearest_indices_pil(img.shape[1], m['width'])]


def nearest_indices_pil(src, dst):
    """PIL's NEAREST source indices for one axis: the running sum x += src/dst from src/dst/2, truncated."""
    step = src / dst
    centre = step * 0.5
    out = []
    for _ in range(dst):
        out.append(min(int(centre), src - 1))
        centre += step
    return np.array(out)


def decode(path, channels):
    """HWC uint8 with the model's channels, as the engine decodes it (no EXIF orientation)."""
    img = cv2.imread(path, cv2.IMREAD_UNCHANGED)  # IMREAD_UNCHANGED applies no EXIF orientation
    if img is None:
        fail(f'cannot decode image {path}')
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        fail(f'{path}: {img.dtype} samples are not supported here')
    if img.ndim == 2:
        img = img[:, :, np.newaxis]
    if img.shape[2] == 4:
        img = img[:, :, :3]  # alpha dropped, not composited
    if img.shape[2] == 3:
        img = img[:, :, ::-1]  # OpenCV's BGR -> RGB
    if channels == 3 and img.shape[2] == 1:
        img = np.repeat(img, 3, axis=2)
    elif channels == 1 and img.shape[2] == 3:
        rgb = img.astype(np.uint32)
        img = ((rgb[:, :, 0] * 19595 + rgb[:, :, 1] * 38470 + rgb[:, :, 2] * 7471 + 0x8000) >> 16).astype(np.uint8)[:, :, np.newaxis]
    return img


def input_blob(m, images):
    """[N, H, W, C] uint8 -> the model's input: float32 times float32(scale), or raw uint8; NCHW or NHWC."""
    x = images if m['dtype'] == 'uint8' else images.astype(np.float32) * np.float32(m['scale'])
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2) if m['layout'] == 'NCHW' else x)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('model')
    parser.add_argument('folder')
    parser.add_argument('--split', help='FOLDER holds IDX files: score this split (test or train)')
    parser.add_argument('--json', action='store_true', help='print the figures and every prediction as JSON')
    parser.add_argument('--batch', type=int, default=32, help='images per forward pass (default 32)')
    args = parser.parse_args()
    if args.batch < 1:
        fail(f'--batch must be a positive whole number, got {args.batch}')
    m = model_interface(args.model)
    try:
        net = cv2.dnn.readNetFromONNX(args.model)
    except cv2.error as err:
        fail(f'{args.model}: OpenCV cannot load the model: {str(err).strip().splitlines()[-1]}')
    if args.split is not None:
        pixels, labels = read_idx_split(args.folder, args.split)
        if m['channels'] != 1:
            pixels = np.repeat(pixels, m['channels'], axis=3)
        files = [f'{args.split}#{i}' for i in range(len(labels))]
        load = lambda i: fit(m, pixels[i], files[i])
    else:
        files, labels = list_folder(args.folder, m['classes'])
        load = lambda i: fit(m, decode(files[i], m['channels']), files[i])
    predicted = []
    for start in range(0, len(files), args.batch):
        batch = [load(i) for i in range(start, min(start + args.batch, len(files)))]
        net.setInput(input_blob(m, np.stack(batch)))
        out = net.forward(m['output']).reshape(len(batch), -1)
        predicted += (out.argmax(axis=1) if m['head'] == 'softmax' else (out[:, 0] > 0.5).astype(int)).tolist()
    correct = int((np.array(predicted) == labels).sum())
    result = {
        'opencv': cv2.__version__,
        'model': args.model,
        'folder': args.folder,
        'images': len(files),
        'correct': correct,
        'accuracy': correct / len(files),
        'predicted': [m['classes'][p] for p in predicted],
        'files': files if args.split is not None else [os.path.relpath(f, args.folder) for f in files],
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"OpenCV {cv2.__version__} DNN: accuracy {100 * result['accuracy']:.2f}% ({correct}/{len(files)}) of {args.model} on {args.folder}")


if __name__ == '__main__':
    main()
