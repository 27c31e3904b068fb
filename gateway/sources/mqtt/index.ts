export {
  MqttImuIngest,
  type IngestedImu,
  type MqttImuIngestOptions,
  type MqttSubscriber,
  type IngestTopics,
} from './ingest.ts';
export {
  decodeImuMessage,
  decodeImuJson,
  decodeImuBinary,
  encodeImuBinary,
  type DecodedImu,
  type DecodeResult,
  type IngestRejectReason,
  type EncodeImuBinaryInput,
} from './imu-decode.ts';
