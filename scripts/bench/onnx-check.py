#!/usr/bin/env python3
"""Checks exported models with the reference `onnx` package: checker (full, with shape inference), the inferred
output shape, and the metadata keys. Usage: python3 scripts/bench/onnx-check.py model.onnx [more.onnx ...]
Needs python3-onnx (Debian) or `pip install onnx`; exits 1 on the first failing model, 2 without onnx."""
import json
import sys

try:
    import onnx
except ImportError:
    print("onnx-check: the python 'onnx' package is missing (apt-get install python3-onnx)", file=sys.stderr)
    sys.exit(2)


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def check(path):
    model = onnx.load(path)
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    meta = {p.key: p.value for p in model.metadata_props}
    out = inferred.graph.output[0]
    return {
        "file": path,
        "onnx": onnx.__version__,
        "ir_version": model.ir_version,
        "opset": [(o.domain or "ai.onnx", o.version) for o in model.opset_import],
        "input": [(i.name, dims(i)) for i in model.graph.input],
        "output": (out.name, dims(out)),
        "initializers_in_inputs": sorted({t.name for t in model.graph.initializer} & {i.name for i in model.graph.input}),
        "ops": [n.op_type for n in model.graph.node],
        "metadata_keys": sorted(meta),
        "checker": "ok",
    }


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for path in sys.argv[1:]:
        try:
            print(json.dumps(check(path)))
        except Exception as err:  # checker, shape inference and I/O errors alike
            print(f"onnx-check: {path}: {type(err).__name__}: {err}", file=sys.stderr)
            sys.exit(1)
