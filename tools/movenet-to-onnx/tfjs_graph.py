"""Reads a TensorFlow.js graph model (model.json + weight shards) into plain Python/numpy.

TFJS stores the frozen TensorFlow GraphDef as JSON (nodes with op, inputs and attrs) and every
Const node's value in binary shards described by `weightsManifest`. Weights may be quantised
(float16, or uint8/uint16 affine); they are dequantised here exactly as tfjs-converter does so
the ONNX graph computes with the same float32 values the TFJS runtime uses.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field

import numpy as np

_DTYPES = {
    'float32': np.float32,
    'int32': np.int32,
    'bool': np.bool_,
    'uint8': np.uint8,
    'uint16': np.uint16,
    'float16': np.float16,
}

# TF DataType enum names as they appear in graph attrs.
TF_DTYPES = {
    'DT_FLOAT': np.float32,
    'DT_INT32': np.int32,
    'DT_BOOL': np.bool_,
    'DT_INT64': np.int64,
    'DT_HALF': np.float16,
}


@dataclass
class TfNode:
    name: str
    op: str
    inputs: list[str]
    attr: dict = field(default_factory=dict)

    def attr_int(self, key: str, default: int | None = None) -> int:
        value = self.attr.get(key)
        if value is None:
            if default is None:
                raise KeyError(f'{self.op} node {self.name}: attribute {key} missing')
            return default
        return int(value.get('i', default if default is not None else 0))

    def attr_bool(self, key: str, default: bool = False) -> bool:
        value = self.attr.get(key)
        return bool(value.get('b', default)) if value is not None else default

    def attr_float(self, key: str, default: float = 0.0) -> float:
        value = self.attr.get(key)
        return float(value.get('f', default)) if value is not None else default

    def attr_str(self, key: str, default: str = '') -> str:
        value = self.attr.get(key)
        if value is None or 's' not in value:
            return default
        return base64.b64decode(value['s']).decode()

    def attr_ints(self, key: str) -> list[int]:
        value = self.attr.get(key) or {}
        return [int(i) for i in value.get('list', {}).get('i', [])]

    def attr_strs(self, key: str) -> list[str]:
        value = self.attr.get(key) or {}
        return [base64.b64decode(s).decode() for s in value.get('list', {}).get('s', [])]

    def attr_type(self, key: str):
        value = self.attr.get(key)
        if value is None:
            raise KeyError(f'{self.op} node {self.name}: type attribute {key} missing')
        name = value.get('type', 'DT_FLOAT')
        if name not in TF_DTYPES:
            raise ValueError(f'{self.op} node {self.name}: unsupported dtype {name}')
        return TF_DTYPES[name]

    def attr_shape(self, key: str) -> list[int] | None:
        value = self.attr.get(key)
        if value is None:
            return None
        dims = value.get('shape', {}).get('dim', [])
        return [int(d.get('size', -1)) for d in dims]


@dataclass
class TfjsGraph:
    nodes: list[TfNode]
    weights: dict[str, np.ndarray]
    signature: dict
    meta: dict


def _dequantise(raw: bytes, spec: dict) -> np.ndarray:
    shape = spec['shape']
    dtype = spec['dtype']
    quant = spec.get('quantization')
    count = int(np.prod(shape)) if shape else 1
    if quant is None:
        return np.frombuffer(raw, dtype=_DTYPES[dtype], count=count).reshape(shape).copy()
    qtype = quant['dtype']
    if qtype == 'float16':
        # Half → single is exact: the ONNX graph keeps the float16 bytes and casts them.
        return np.frombuffer(raw, dtype=np.float16, count=count).reshape(shape).copy()
    if qtype in ('uint8', 'uint16'):
        q = np.frombuffer(raw, dtype=_DTYPES[qtype], count=count).astype(np.float32)
        # tfjs-converter's affine dequantisation: value = q * scale + min, in float32.
        values = q * np.float32(quant['scale']) + np.float32(quant['min'])
        return values.astype(_DTYPES[dtype]).reshape(shape)
    raise ValueError(f"weight {spec['name']}: unsupported quantisation {qtype}")


def _byte_size(spec: dict) -> int:
    count = int(np.prod(spec['shape'])) if spec['shape'] else 1
    quant = spec.get('quantization')
    dtype = quant['dtype'] if quant else spec['dtype']
    return count * np.dtype(_DTYPES[dtype]).itemsize


def load(model_json: str) -> TfjsGraph:
    with open(model_json, encoding='utf-8') as f:
        model = json.load(f)
    if model.get('format') != 'graph-model':
        raise ValueError(f"{model_json}: format is {model.get('format')!r}, expected 'graph-model'")
    base = os.path.dirname(model_json)
    weights: dict[str, np.ndarray] = {}
    for group in model['weightsManifest']:
        blob = b''.join(open(os.path.join(base, p), 'rb').read() for p in group['paths'])
        offset = 0
        for spec in group['weights']:
            size = _byte_size(spec)
            if offset + size > len(blob):
                raise ValueError(f"{model_json}: weight {spec['name']} runs past the end of its shards")
            weights[spec['name']] = _dequantise(blob[offset : offset + size], spec)
            offset += size
        if offset != len(blob):
            raise ValueError(f'{model_json}: {len(blob) - offset} unread bytes in shards {group["paths"]}')
    nodes = [
        TfNode(n['name'], n['op'], list(n.get('input', [])), n.get('attr', {}))
        for n in model['modelTopology']['node']
    ]
    if model['modelTopology'].get('library', {}).get('function'):
        raise ValueError(f'{model_json}: graphs with function libraries (control flow) are not supported')
    meta = {k: model.get(k) for k in ('generatedBy', 'convertedBy', 'format')}
    return TfjsGraph(nodes, weights, model.get('signature', {}), meta)
