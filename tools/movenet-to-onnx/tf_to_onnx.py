"""Maps the TensorFlow ops of a TFJS graph model to ONNX nodes, one TF node at a time.

Tensors keep TensorFlow's NHWC layout between ops so every non-convolution op keeps its TF
meaning unchanged (axes, reshapes and gathers in the post-processing refer to NHWC). Only the
ops ONNX defines on NCHW (Conv, pooling) are wrapped in a Transpose pair; onnxruntime's
transpose optimiser cancels the back-to-back pairs between layers when the session is built.

Only ops these graphs use are mapped; an unknown op stops the conversion with its name, so a
new model version cannot be converted silently wrong.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tfjs_graph import TF_DTYPES, TfjsGraph, TfNode

OPSET = 13
INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min

_ONNX_TYPE = {
    np.float32: TensorProto.FLOAT,
    np.int32: TensorProto.INT32,
    np.int64: TensorProto.INT64,
    np.bool_: TensorProto.BOOL,
    np.float16: TensorProto.FLOAT16,
}

_BINARY = {
    'Add': 'Add',
    'AddV2': 'Add',
    'BiasAdd': 'Add',
    'Sub': 'Sub',
    'Mul': 'Mul',
    'RealDiv': 'Div',
    'Maximum': 'Max',
    'Minimum': 'Min',
    'Less': 'Less',
    'LessEqual': 'LessOrEqual',
    'Greater': 'Greater',
    'GreaterEqual': 'GreaterOrEqual',
    'Equal': 'Equal',
    'LogicalAnd': 'And',
    'LogicalOr': 'Or',
    'Pow': 'Pow',
}

_UNARY = {
    'Sigmoid': 'Sigmoid',
    'Sqrt': 'Sqrt',
    'Exp': 'Exp',
    'Abs': 'Abs',
    'Neg': 'Neg',
    'Relu': 'Relu',
    'Tanh': 'Tanh',
    'Reciprocal': 'Reciprocal',
    'Floor': 'Floor',
    'Log': 'Log',
    'LogicalNot': 'Not',
    'Identity': 'Identity',
}

_REDUCE = {'Max': 'ReduceMax', 'Min': 'ReduceMin', 'Sum': 'ReduceSum', 'Mean': 'ReduceMean', 'Prod': 'ReduceProd'}

NHWC_TO_NCHW = [0, 3, 1, 2]
NCHW_TO_NHWC = [0, 2, 3, 1]

# float16 constants larger than this stay float16 in the file (half the size) behind a Cast that
# onnxruntime folds at load; small ones are stored as float32 directly.
_KEEP_HALF_ABOVE = 64


class ConversionError(Exception):
    pass


def _tensor_key(ref: str) -> str:
    name, _, index = ref.partition(':')
    return f'{name}:{index or 0}'


class Converter:
    def __init__(self, graph: TfjsGraph, input_shape: list[int], input_dtype=np.float32):
        self.graph = graph
        self.input_shape = input_shape
        self.input_dtype = input_dtype
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.values: dict[str, str] = {}  # TF tensor "node:index" → ONNX value name
        self.const_nodes = {n.name: n for n in graph.nodes if n.op == 'Const'}
        self.used_ops: set[str] = set()
        self._uid = 0
        self.graph_inputs: list[onnx.ValueInfoProto] = []

    # ---- helpers -------------------------------------------------------------------------
    def _name(self, hint: str) -> str:
        self._uid += 1
        return f'{hint}__{self._uid}'

    def node(self, op: str, inputs: list[str], hint: str, outputs: int = 1, **attrs) -> list[str]:
        names = [self._name(f'{hint}/{op}') for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=names[0], **attrs))
        return names

    def one(self, op: str, inputs: list[str], hint: str, **attrs) -> str:
        return self.node(op, inputs, hint, 1, **attrs)[0]

    def constant(self, value: np.ndarray, hint: str) -> str:
        name = self._name(f'{hint}/const')
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def weight(self, value: np.ndarray, hint: str) -> str:
        """A float constant as float32; large float16 ones keep their exact half bytes."""
        if value.dtype == np.float16 and value.size > _KEEP_HALF_ABOVE:
            return self.one('Cast', [self.constant(value, hint)], hint, to=TensorProto.FLOAT)
        if value.dtype == np.float16:
            value = value.astype(np.float32)
        return self.constant(value, hint)

    def const_value(self, ref: str) -> np.ndarray | None:
        name = ref.split(':')[0]
        node = self.const_nodes.get(name)
        if node is None:
            return None
        if name not in self.graph.weights:
            raise ConversionError(f'Const {name} has no value in the weight shards')
        return self.graph.weights[name]

    def require_const(self, node: TfNode, index: int) -> np.ndarray:
        value = self.const_value(node.inputs[index])
        if value is None:
            raise ConversionError(f'{node.op} {node.name}: input {index} ({node.inputs[index]}) must be a constant')
        return value

    def value(self, ref: str) -> str:
        key = _tensor_key(ref)
        if key in self.values:
            return self.values[key]
        const = self.const_value(ref)
        if const is not None:
            name = self.weight(const, ref.split(':')[0]) if const.dtype.kind == 'f' else self.constant(const, ref)
            self.values[key] = name
            return name
        raise ConversionError(f'tensor {ref} is used before it is produced (graph not topologically sorted?)')

    def bind(self, node: TfNode, outputs: list[str]) -> None:
        for i, out in enumerate(outputs):
            self.values[f'{node.name}:{i}'] = out

    def int64(self, ref: str, hint: str) -> str:
        const = self.const_value(ref)
        if const is not None:
            return self.constant(np.asarray(const, dtype=np.int64), hint)
        return self.one('Cast', [self.value(ref)], hint, to=TensorProto.INT64)

    def dtype_of(self, node: TfNode):
        return node.attr_type('T') if 'T' in node.attr else np.float32

    # ---- conversion ----------------------------------------------------------------------
    def convert(self, output_names: dict[str, tuple[str, list[int]]], input_name: str = 'input') -> onnx.ModelProto:
        placeholders = [n for n in self.graph.nodes if n.op == 'Placeholder']
        if len(placeholders) != 1:
            raise ConversionError(f'expected one Placeholder, found {len(placeholders)}')
        ph = placeholders[0]
        self.values[f'{ph.name}:0'] = input_name
        self.graph_inputs.append(
            helper.make_tensor_value_info(input_name, _ONNX_TYPE[self.input_dtype], self.input_shape)
        )
        for node in self.graph.nodes:
            if node.op in ('Const', 'Placeholder', 'NoOp'):
                continue
            handler = getattr(self, f'op_{node.op}', None)
            if handler is None:
                if node.op in _BINARY:
                    handler = self.binary
                elif node.op in _UNARY:
                    handler = self.unary
                elif node.op in _REDUCE:
                    handler = self.reduce
                else:
                    raise ConversionError(f'unsupported TF op {node.op} (node {node.name})')
            self.used_ops.add(node.op)
            handler(node)
        outputs = []
        for tf_ref, (onnx_name, shape) in output_names.items():
            self.nodes.append(helper.make_node('Identity', [self.value(tf_ref)], [onnx_name], name=onnx_name))
            outputs.append(helper.make_tensor_value_info(onnx_name, TensorProto.FLOAT, shape))
        graph = helper.make_graph(self.nodes, 'movenet', self.graph_inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid('', OPSET)], producer_name='movenet-to-onnx')
        model.ir_version = 7
        return _prune(model)

    # ---- element-wise ----------------------------------------------------------------------
    def binary(self, node: TfNode) -> None:
        a, b = (self.value(r) for r in node.inputs[:2])
        self.bind(node, [self.one(_BINARY[node.op], [a, b], node.name)])

    def unary(self, node: TfNode) -> None:
        self.bind(node, [self.one(_UNARY[node.op], [self.value(node.inputs[0])], node.name)])

    def op_NotEqual(self, node: TfNode) -> None:
        a, b = (self.value(r) for r in node.inputs[:2])
        self.bind(node, [self.one('Not', [self.one('Equal', [a, b], node.name)], node.name)])

    def op_SquaredDifference(self, node: TfNode) -> None:
        a, b = (self.value(r) for r in node.inputs[:2])
        d = self.one('Sub', [a, b], node.name)
        self.bind(node, [self.one('Mul', [d, d], node.name)])

    def op_Square(self, node: TfNode) -> None:
        x = self.value(node.inputs[0])
        self.bind(node, [self.one('Mul', [x, x], node.name)])

    def op_Rsqrt(self, node: TfNode) -> None:
        x = self.one('Sqrt', [self.value(node.inputs[0])], node.name)
        self.bind(node, [self.one('Reciprocal', [x], node.name)])

    def op_Relu6(self, node: TfNode) -> None:
        self.bind(node, [self._relu6(self.value(node.inputs[0]), node.name)])

    def _relu6(self, x: str, hint: str) -> str:
        lo = self.constant(np.array(0, np.float32), hint)
        hi = self.constant(np.array(6, np.float32), hint)
        return self.one('Clip', [x, lo, hi], hint)

    def op_FloorDiv(self, node: TfNode) -> None:
        a, b = (self.value(r) for r in node.inputs[:2])
        dtype = self.dtype_of(node)
        if np.issubdtype(dtype, np.integer):
            # ONNX Div truncates integers toward zero; TF floors. Float64 holds every int32 exactly.
            fa = self.one('Cast', [a], node.name, to=TensorProto.DOUBLE)
            fb = self.one('Cast', [b], node.name, to=TensorProto.DOUBLE)
            q = self.one('Floor', [self.one('Div', [fa, fb], node.name)], node.name)
            self.bind(node, [self.one('Cast', [q], node.name, to=_ONNX_TYPE[dtype])])
        else:
            self.bind(node, [self.one('Floor', [self.one('Div', [a, b], node.name)], node.name)])

    def op_AddN(self, node: TfNode) -> None:
        self.bind(node, [self.one('Sum', [self.value(r) for r in node.inputs], node.name)])

    def op_Cast(self, node: TfNode) -> None:
        dst = node.attr_type('DstT')
        self.bind(node, [self.one('Cast', [self.value(node.inputs[0])], node.name, to=_ONNX_TYPE[dst])])

    def op_Select(self, node: TfNode) -> None:
        # TF Select (v1) broadcasts a rank-1 condition along axis 0 only; these graphs use equal
        # shapes, which `check_select_shapes` verifies on the finished model.
        c, t, e = (self.value(r) for r in node.inputs[:3])
        out = self.one('Where', [c, t, e], node.name)
        self.selects.append((c, t, node.name))
        self.bind(node, [out])

    selects: list = []

    def op_SelectV2(self, node: TfNode) -> None:
        c, t, e = (self.value(r) for r in node.inputs[:3])
        self.bind(node, [self.one('Where', [c, t, e], node.name)])

    # ---- shapes ----------------------------------------------------------------------------
    def op_Reshape(self, node: TfNode) -> None:
        shape = self.const_value(node.inputs[1])
        if shape is not None and np.any(np.asarray(shape) == 0):
            raise ConversionError(f'Reshape {node.name}: a 0 in the target shape means "copy" in ONNX, not "empty"')
        s = self.int64(node.inputs[1], node.name)
        self.bind(node, [self.one('Reshape', [self.value(node.inputs[0]), s], node.name)])

    def op_ExpandDims(self, node: TfNode) -> None:
        axis = self.require_const(node, 1).reshape(-1).astype(np.int64)
        axes = self.constant(axis, node.name)
        self.bind(node, [self.one('Unsqueeze', [self.value(node.inputs[0]), axes], node.name)])

    def op_Squeeze(self, node: TfNode) -> None:
        dims = node.attr_ints('squeeze_dims')
        inputs = [self.value(node.inputs[0])]
        if dims:
            inputs.append(self.constant(np.array(dims, np.int64), node.name))
        self.bind(node, [self.one('Squeeze', inputs, node.name)])

    def op_Pack(self, node: TfNode) -> None:
        axis = node.attr_int('axis', 0)
        n = node.attr_int('N')
        # Unsqueeze's negative axis counts in the output rank, which is what TF's Pack axis means.
        axes = self.constant(np.array([axis], np.int64), node.name)
        parts = [self.one('Unsqueeze', [self.value(r), axes], node.name) for r in node.inputs[:n]]
        self.bind(node, [self.one('Concat', parts, node.name, axis=axis)])

    def op_Unpack(self, node: TfNode) -> None:
        axis = node.attr_int('axis', 0)
        num = node.attr_int('num')
        parts = self.node('Split', [self.value(node.inputs[0])], node.name, outputs=num, axis=axis)
        axes = self.constant(np.array([axis], np.int64), node.name)
        self.bind(node, [self.one('Squeeze', [p, axes], node.name) for p in parts])

    def op_Split(self, node: TfNode) -> None:
        axis = int(self.require_const(node, 0))
        num = node.attr_int('num_split')
        self.bind(node, self.node('Split', [self.value(node.inputs[1])], node.name, outputs=num, axis=axis))

    def op_ConcatV2(self, node: TfNode) -> None:
        n = node.attr_int('N')
        axis = int(self.require_const(node, n))
        self.bind(node, [self.one('Concat', [self.value(r) for r in node.inputs[:n]], node.name, axis=axis)])

    def op_Shape(self, node: TfNode) -> None:
        out = node.attr_type('out_type') if 'out_type' in node.attr else np.int32
        s = self.one('Shape', [self.value(node.inputs[0])], node.name)
        self.bind(node, [self.one('Cast', [s], node.name, to=_ONNX_TYPE[out])])

    def op_Size(self, node: TfNode) -> None:
        out = node.attr_type('out_type') if 'out_type' in node.attr else np.int32
        s = self.one('Size', [self.value(node.inputs[0])], node.name)
        self.bind(node, [self.one('Cast', [s], node.name, to=_ONNX_TYPE[out])])

    def op_Range(self, node: TfNode) -> None:
        self.bind(node, [self.one('Range', [self.value(r) for r in node.inputs[:3]], node.name)])

    def op_Tile(self, node: TfNode) -> None:
        reps = self.int64(node.inputs[1], node.name)
        self.bind(node, [self.one('Tile', [self.value(node.inputs[0]), reps], node.name)])

    def op_Fill(self, node: TfNode) -> None:
        value = self.require_const(node, 1)
        if value.dtype == np.float16:
            value = value.astype(np.float32)
        dims = self.int64(node.inputs[0], node.name)
        tensor = numpy_helper.from_array(np.asarray(value).reshape(1))
        self.bind(node, [self.one('ConstantOfShape', [dims], node.name, value=tensor)])

    def op_StridedSlice(self, node: TfNode) -> None:
        begin, end, strides = (self.require_const(node, i).astype(np.int64) for i in (1, 2, 3))
        masks = {k: node.attr_int(k, 0) for k in ('begin_mask', 'end_mask', 'ellipsis_mask', 'new_axis_mask', 'shrink_axis_mask')}
        if masks['ellipsis_mask']:
            raise ConversionError(f'StridedSlice {node.name}: ellipsis_mask is not supported')
        starts, ends, axes, steps, squeeze, new_axes = [], [], [], [], [], []
        in_dim = 0
        out_dim = 0
        for i in range(len(begin)):
            bit = 1 << i
            if masks['new_axis_mask'] & bit:
                new_axes.append(out_dim)
                out_dim += 1
                continue
            b, e, s = int(begin[i]), int(end[i]), int(strides[i])
            if masks['shrink_axis_mask'] & bit:
                # [b, b+1): for b == -1 the end must be "past the last", not 0.
                starts.append(b)
                ends.append(INT64_MAX if b == -1 else b + 1)
                steps.append(1)
                axes.append(in_dim)
                squeeze.append(in_dim)
            else:
                starts.append((0 if s > 0 else INT64_MAX) if masks['begin_mask'] & bit else b)
                ends.append((INT64_MAX if s > 0 else INT64_MIN) if masks['end_mask'] & bit else e)
                steps.append(s)
                axes.append(in_dim)
                out_dim += 1
            in_dim += 1
        x = self.value(node.inputs[0])
        arrays = [np.array(v, np.int64) for v in (starts, ends, axes, steps)]
        x = self.one('Slice', [x] + [self.constant(a, node.name) for a in arrays], node.name)
        if squeeze:
            x = self.one('Squeeze', [x, self.constant(np.array(squeeze, np.int64), node.name)], node.name)
        if new_axes:
            x = self.one('Unsqueeze', [x, self.constant(np.array(new_axes, np.int64), node.name)], node.name)
        self.bind(node, [x])

    # ---- indexing and reductions -----------------------------------------------------------
    def op_GatherNd(self, node: TfNode) -> None:
        idx = self.int64(node.inputs[1], node.name)
        self.bind(node, [self.one('GatherND', [self.value(node.inputs[0]), idx], node.name)])

    def op_ArgMax(self, node: TfNode) -> None:
        axis = int(self.require_const(node, 1))
        out = node.attr_type('output_type') if 'output_type' in node.attr else np.int64
        # ArgMax keeps the first of equal maxima, as TF and TFJS do.
        a = self.one('ArgMax', [self.value(node.inputs[0])], node.name, axis=axis, keepdims=0, select_last_index=0)
        self.bind(node, [a if out == np.int64 else self.one('Cast', [a], node.name, to=_ONNX_TYPE[out])])

    def op_TopKV2(self, node: TfNode) -> None:
        if not node.attr_bool('sorted', True):
            raise ConversionError(f'TopKV2 {node.name}: unsorted top-k is not supported')
        k = self.int64(node.inputs[1], node.name)
        k = self.one('Reshape', [k, self.constant(np.array([1], np.int64), node.name)], node.name)
        values, indices = self.node('TopK', [self.value(node.inputs[0]), k], node.name, outputs=2, axis=-1, largest=1, sorted=1)
        self.bind(node, [values, self.one('Cast', [indices], node.name, to=TensorProto.INT32)])

    def reduce(self, node: TfNode) -> None:
        axes = self.require_const(node, 1).reshape(-1).astype(np.int64)
        keep = 1 if node.attr_bool('keep_dims', False) else 0
        x = self.value(node.inputs[0])
        op = _REDUCE[node.op]
        if op == 'ReduceSum':  # opset 13 moved ReduceSum's axes to an input
            out = self.one(op, [x, self.constant(axes, node.name)], node.name, keepdims=keep)
        else:
            out = self.one(op, [x], node.name, axes=[int(a) for a in axes], keepdims=keep)
        self.bind(node, [out])

    # ---- images ----------------------------------------------------------------------------
    def _resize(self, node: TfNode, mode: str) -> None:
        x = self.value(node.inputs[0])
        align = node.attr_bool('align_corners')
        half = node.attr_bool('half_pixel_centers')
        if align:
            ctm = 'align_corners'
        elif half:
            ctm = 'tf_half_pixel_for_nn' if mode == 'nearest' else 'half_pixel'
        else:
            ctm = 'asymmetric'
        attrs = {'mode': mode, 'coordinate_transformation_mode': ctm}
        if mode == 'nearest':
            attrs['nearest_mode'] = 'round_prefer_ceil' if align else 'floor'
        size_hw = self.int64(node.inputs[1], node.name)
        shape = self.one('Shape', [x], node.name)
        n = self.one('Slice', [shape] + [self.constant(np.array(v, np.int64), node.name) for v in ([0], [1], [0])], node.name)
        c = self.one('Slice', [shape] + [self.constant(np.array(v, np.int64), node.name) for v in ([3], [4], [0])], node.name)
        sizes = self.one('Concat', [n, size_hw, c], node.name, axis=0)
        self.bind(node, [self.one('Resize', [x, '', '', sizes], node.name, **attrs)])

    def op_ResizeBilinear(self, node: TfNode) -> None:
        self._resize(node, 'linear')

    def op_ResizeNearestNeighbor(self, node: TfNode) -> None:
        self._resize(node, 'nearest')

    def _check_nhwc(self, node: TfNode) -> None:
        fmt = node.attr_str('data_format', 'NHWC')
        if fmt != 'NHWC':
            raise ConversionError(f'{node.op} {node.name}: data_format {fmt} is not supported')

    def _window(self, node: TfNode, kernel: list[int]) -> dict:
        padding = node.attr_str('padding')
        strides = node.attr_ints('strides')
        attrs = {'strides': strides[1:3]}
        if padding == 'SAME':
            # TF puts the odd pixel of padding at the end, as ONNX SAME_UPPER does.
            attrs['auto_pad'] = 'SAME_UPPER'
        elif padding == 'VALID':
            attrs['pads'] = [0, 0, 0, 0]
        elif padding == 'EXPLICIT':
            p = node.attr_ints('explicit_paddings')
            attrs['pads'] = [p[2], p[4], p[3], p[5]]
        else:
            raise ConversionError(f'{node.op} {node.name}: padding {padding!r} is not supported')
        return attrs

    def _conv(self, node: TfNode, depthwise: bool, fused: bool) -> None:
        self._check_nhwc(node)
        filt = self.require_const(node, 1)
        kh, kw, cin, cout = filt.shape
        if depthwise:
            w = filt.transpose(2, 3, 0, 1).reshape(cin * cout, 1, kh, kw)
            group = cin
        else:
            w = filt.transpose(3, 2, 0, 1)
            group = 1
        attrs = self._window(node, [kh, kw])
        dil = node.attr_ints('dilations') or [1, 1, 1, 1]
        attrs.update(kernel_shape=[kh, kw], dilations=dil[1:3], group=group)
        inputs = [self.one('Transpose', [self.value(node.inputs[0])], node.name, perm=NHWC_TO_NCHW), self.weight(np.ascontiguousarray(w), node.name)]
        fused_ops = node.attr_strs('fused_ops') if fused else []
        rest = list(fused_ops)
        extra = node.inputs[2:]
        if rest and rest[0] == 'BiasAdd':
            inputs.append(self.weight(self.require_const(node, 2), node.name))
            rest.pop(0)
            extra = extra[1:]
        y = self.one('Conv', inputs, node.name, **attrs)
        if rest and rest[0] == 'FusedBatchNorm':
            scale, offset, mean, var = (self.weight(self.require_const(node, 2 + i), node.name) for i in range(4))
            y = self.one('BatchNormalization', [y, scale, offset, mean, var], node.name, epsilon=node.attr_float('epsilon', 1e-3))
            rest.pop(0)
            extra = []
        if rest:
            act = rest.pop(0)
            if act == 'Relu':
                y = self.one('Relu', [y], node.name)
            elif act == 'Relu6':
                y = self._relu6(y, node.name)
            elif act == 'Elu':
                y = self.one('Elu', [y], node.name)
            elif act == 'Sigmoid':
                y = self.one('Sigmoid', [y], node.name)
            elif act == 'LeakyRelu':
                y = self.one('LeakyRelu', [y], node.name, alpha=node.attr_float('leakyrelu_alpha', 0.2))
            else:
                raise ConversionError(f'{node.op} {node.name}: fused activation {act} is not supported')
        if rest:
            raise ConversionError(f'{node.op} {node.name}: fused ops {fused_ops} are not supported')
        self.bind(node, [self.one('Transpose', [y], node.name, perm=NCHW_TO_NHWC)])

    def op_Conv2D(self, node: TfNode) -> None:
        self._conv(node, depthwise=False, fused=False)

    def op__FusedConv2D(self, node: TfNode) -> None:
        self._conv(node, depthwise=False, fused=True)

    def op_DepthwiseConv2dNative(self, node: TfNode) -> None:
        self._conv(node, depthwise=True, fused=False)

    def op_FusedDepthwiseConv2dNative(self, node: TfNode) -> None:
        self._conv(node, depthwise=True, fused=True)

    def _pool(self, node: TfNode, op: str) -> None:
        self._check_nhwc(node)
        ksize = node.attr_ints('ksize')
        attrs = self._window(node, ksize[1:3])
        attrs['kernel_shape'] = ksize[1:3]
        if op == 'AveragePool':
            attrs['count_include_pad'] = 0  # TF averages over the valid pixels only
        x = self.one('Transpose', [self.value(node.inputs[0])], node.name, perm=NHWC_TO_NCHW)
        y = self.one(op, [x], node.name, **attrs)
        self.bind(node, [self.one('Transpose', [y], node.name, perm=NCHW_TO_NHWC)])

    def op_MaxPool(self, node: TfNode) -> None:
        self._pool(node, 'MaxPool')

    def op_AvgPool(self, node: TfNode) -> None:
        self._pool(node, 'AveragePool')


def _prune(model: onnx.ModelProto) -> onnx.ModelProto:
    """Drops nodes and initializers that no output depends on (e.g. unused TF side outputs)."""
    g = model.graph
    needed = {o.name for o in g.output}
    keep = []
    for node in reversed(list(g.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    keep.reverse()
    del g.node[:]
    g.node.extend(keep)
    inits = [i for i in g.initializer if i.name in needed]
    del g.initializer[:]
    g.initializer.extend(inits)
    return model


def check_select_shapes(model: onnx.ModelProto, selects: list) -> None:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    ranks = {}
    for vi in list(inferred.graph.value_info) + list(inferred.graph.input) + list(inferred.graph.output):
        if vi.type.tensor_type.HasField('shape'):
            ranks[vi.name] = len(vi.type.tensor_type.shape.dim)
    for cond, then, name in selects:
        if cond in ranks and then in ranks and ranks[cond] != ranks[then] and ranks[cond] == 1:
            raise ConversionError(f'Select {name}: rank-1 condition with rank-{ranks[then]} values needs TF v1 broadcasting')


def convert(graph: TfjsGraph, input_shape: list[int], outputs: dict[str, tuple[str, list[int]]], input_dtype=np.float32):
    conv = Converter(graph, input_shape, input_dtype)
    conv.selects = []
    model = conv.convert(outputs)
    onnx.checker.check_model(model, full_check=True)
    check_select_shapes(model, conv.selects)
    return model, sorted(conv.used_ops)
