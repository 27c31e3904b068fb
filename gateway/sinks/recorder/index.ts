export { Recorder, createRecorder } from './recorder.ts';
export {
  type LabelRequest,
  type RecorderDeps,
  type RecorderStatus,
  type RecordingCameraSpec,
  type RecordingDeviceSpec,
  type RecordingSubjectSpec,
  type RecordingSummary,
  type StartRequest,
  type StopReason,
} from './types.ts';
export { RECORDER_DEFAULTS, RecorderOptionsSchema, type RecorderOptions } from './options.ts';
export { RecorderMetrics, type DropReason } from './metrics.ts';
export { recorderFromConfig } from './from-config.ts';
