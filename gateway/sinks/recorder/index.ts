export {
  Recorder,
  createRecorder,
  RECORDER_DEFAULTS,
  type LabelRequest,
  type RecorderDeps,
  type RecorderStatus,
  type RecordingCameraSpec,
  type RecordingDeviceSpec,
  type RecordingSubjectSpec,
  type RecordingSummary,
  type StartRequest,
  type StopReason,
} from './recorder.ts';
export { RecorderOptionsSchema, type RecorderOptions } from './options.ts';
export { RecorderMetrics, type DropReason } from './metrics.ts';
export { recorderFromConfig } from './from-config.ts';
