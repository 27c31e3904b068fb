export { InfluxSink, type InfluxSinkOptions } from './sink.ts';
export {
  InfluxOptionsSchema,
  resolveInfluxTarget,
  type InfluxOptions,
  type InfluxTarget,
} from './options.ts';
export { influxSinkOptionsFromConfig } from './from-config.ts';
export {
  activityLines,
  deviceLine,
  imuLine,
  modalityMask,
  MODALITY_BITS,
  pipelineLine,
  PointSerializer,
  repsLine,
  subjectStateLines,
  type ImuPoint,
  type PipelineStats,
  type RepsRecord,
} from './line-protocol.ts';
export { ImuDownsampler } from './imu-downsampler.ts';
export { InfluxMetrics } from './metrics.ts';
export {
  classifyWriteError,
  retryDelayMs,
  parseRetryAfter,
  type WriteFailure,
  type FailureKind,
} from './retry.ts';
