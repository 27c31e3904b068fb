/*
 * onnxruntime execution providers the gateway may ask for, in the names onnxruntime-node uses.
 * Shared by the model loader and the camera's pose estimator (both open ONNX sessions), and
 * listed in the model's config section, so it lives here rather than in either of them.
 */

export const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'coreml', 'dml', 'webgpu', 'cpu'] as const;
export type ExecutionProviderName = (typeof EXECUTION_PROVIDERS)[number];
