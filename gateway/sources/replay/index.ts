export {
  loadRecording,
  type Recording,
  type RecordingDevice,
  type RecordingStream,
  type RecordingSubject,
} from './recording.ts';
export type { RecordingLabel, StreamData } from './csv.ts';
export {
  ReplaySource,
  createReplaySource,
  openReplaySource,
  type ReplayDone,
  type ReplayOptions,
  type ReplayStats,
  type TimedLabel,
} from './replay-source.ts';
