"""An engine model spec (src/model/spec.ts: a list of layers, each reading the layer before it or the layers its
`inputs` name) as a PyTorch module, for the benchmarks' PyTorch peers: the same layers, shapes, initialisation
(Glorot uniform, zero biases, unit gammas) and losses as the engine, channels-last where it pays."""

import torch
import torch.nn as nn
import torch.nn.functional as F


class FlattenHWC(nn.Module):
    """Flatten in the engine's (and Keras') channels-last order, so dense weights line up with its layout."""

    def forward(self, x):
        return x.permute(0, 2, 3, 1).flatten(1)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean(dim=(2, 3), keepdim=True)


class SamePad(nn.Module):
    """TensorFlow's 'same' padding for a k x k kernel at stride s (the smaller half on top and left), which
    PyTorch's padding='same' gives only at stride 1."""

    def __init__(self, k, s):
        super().__init__()
        self.k, self.s = k, s

    def forward(self, x):
        h, w = x.shape[2], x.shape[3]
        ph = max((-(-h // self.s) - 1) * self.s + self.k - h, 0)
        pw = max((-(-w // self.s) - 1) * self.s + self.k - w, 0)
        return F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))


class SpecNet(nn.Module):
    def __init__(self, spec):
        super().__init__()
        h, w, c = spec['input']
        shapes = {'input': (h, w, c, False)}  # (h, w, c, flat: a 2-D tensor, after flatten or dense)
        self.ops = []
        self.layers = nn.ModuleList()
        counts = {}
        prev = 'input'
        for layer in spec['layers']:
            t = layer['type']
            stem = {'conv3x3': 'conv', 'maxpool2x2': 'pool', 'globalavgpool': 'gap', 'batchnorm': 'bn'}.get(t, t)
            counts[stem] = counts.get(stem, 0) + 1
            name = layer.get('name', f'{stem}{counts[stem]}')
            inputs = layer.get('inputs', [prev])
            h, w, c, flat = shapes[inputs[0]]
            if t in ('conv3x3', 'conv'):
                k, s = layer.get('kernel', 3), layer.get('stride', 1)
                same = layer.get('padding') == 'same'
                conv = nn.Conv2d(c, layer['filters'], k, s)
                nn.init.xavier_uniform_(conv.weight)
                nn.init.zeros_(conv.bias)
                module = nn.Sequential(SamePad(k, s), conv) if same else conv
                h, w = ((-(-h // s), -(-w // s)) if same else ((h - k) // s + 1, (w - k) // s + 1))
                c, flat = layer['filters'], False
            elif t == 'relu':
                module = nn.ReLU()
            elif t == 'maxpool2x2':
                module = nn.MaxPool2d(2)
                h, w, flat = h // 2, w // 2, False
            elif t == 'flatten':
                module = FlattenHWC()
                h, w, c, flat = 1, 1, h * w * c, True
            elif t == 'dense':
                module = nn.Linear(h * w * c, layer['units'])
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
                if h * w > 1:
                    module = nn.Sequential(FlattenHWC(), module)
                h, w, c, flat = 1, 1, layer['units'], True
            elif t == 'dropout':
                module = nn.Dropout(layer['rate'])
            elif t == 'globalavgpool':
                module = GlobalAvgPool()
                h, w, flat = 1, 1, False
            elif t == 'add':
                module = None
            elif t == 'batchnorm':
                # Keras' momentum m keeps m of the running statistics; PyTorch's momentum is the new batch's share
                bn = nn.BatchNorm1d if flat else nn.BatchNorm2d
                module = bn(c, eps=layer.get('epsilon', 1e-3), momentum=1 - layer.get('momentum', 0.99))
            else:
                raise ValueError(f'layer type {t} has no PyTorch counterpart here')
            self.ops.append((t, name, inputs, len(self.layers) if module is not None else -1))
            if module is not None:
                self.layers.append(module)
            shapes[name] = (h, w, c, flat)
            prev = name
        self.last = prev
        self.softmax = spec.get('head') == 'softmax'

    def forward(self, x):
        values = {'input': x}
        for t, name, inputs, index in self.ops:
            a = values[inputs[0]]
            if t == 'add':
                out = a + values[inputs[1]]
            else:
                layer = self.layers[index]
                if t == 'dense' and a.dim() == 4 and not isinstance(layer, nn.Sequential):
                    a = a.flatten(1)  # a 1x1 map (after global average pooling)
                out = layer(a)
            values[name] = out
        z = values[self.last]
        return z.flatten(1)
