export { loadModel, type LoadModelOptions, type OrtLoadedModel } from './load-model.ts';
export { OrtEncoderRunner } from './encoder-runner.ts';
export { InferenceThread, type InferenceThreadOptions } from './inference-thread.ts';
export {
  ModelManager,
  describe as describeModel,
  type ModelManagerOptions,
  type ReloadResult,
  type SwapListener,
} from './model-manager.ts';
export { logitsFor, fuseMeanLogits, softmax, topK, classify, type Ranked } from './fusion.ts';
export { readTestVectors, checkParity, type TestVectors, type ParityReport } from './test-vectors.ts';
export { validateManifest, jsonPath, type ModelManifest, type EncoderManifest } from './manifest.ts';
export { configureOrtLogging, type ProviderFailure } from './session.ts';
