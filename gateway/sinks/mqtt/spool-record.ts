import { GatewayError } from '../../observability/errors.ts';

/*
 * One queued MQTT message as the opaque payload of a spool (SegmentLog) record; the log adds
 * the length and CRC framing around it:
 *   u64 LE seq · u8 flags (bits 0-1 QoS, bit 2 retain) · u8 kind length · kind (latin1)
 *   · u16 LE topic length · topic (UTF-8) · payload (rest of the record)
 * This is byte for byte the record body of the pre-SegmentLog `seg-*.spool` files, which is
 * what lets spool-legacy.ts carry those over unchanged.
 */

export interface SpoolRecord {
  readonly seq: number;
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: 0 | 1 | 2;
  readonly retain: boolean;
  /** Metrics label (activity, subject_state, …). */
  readonly kind: string;
}

/** seq · flags · kind length · topic length: a record is never shorter. */
const FIXED_BYTES = 8 + 1 + 1 + 2;

export function encodeSpoolRecord(r: SpoolRecord): Buffer {
  const kindLength = Buffer.byteLength(r.kind, 'latin1');
  const topicLength = Buffer.byteLength(r.topic, 'utf8');
  if (kindLength > 255)
    throw new GatewayError('MQTT_SPOOL_RECORD', `kind ${JSON.stringify(r.kind)} is longer than 255 bytes`);
  if (topicLength > 0xffff)
    throw new GatewayError('MQTT_SPOOL_RECORD', `topic of ${topicLength} bytes is longer than 65535`);
  const out = Buffer.allocUnsafe(FIXED_BYTES + kindLength + topicLength + r.payload.length);
  let o = out.writeBigUInt64LE(BigInt(r.seq), 0);
  o = out.writeUInt8((r.qos & 3) | (r.retain ? 4 : 0), o);
  o = out.writeUInt8(kindLength, o);
  o += out.write(r.kind, o, kindLength, 'latin1');
  o = out.writeUInt16LE(topicLength, o);
  o += out.write(r.topic, o, topicLength, 'utf8');
  r.payload.copy(out, o);
  return out;
}

/**
 * The record in `body`, or undefined when its fields do not fit together (the framing checked
 * out, so this is a writer bug or deliberate damage, reported as `bad_body`). The payload is a
 * view into `body`.
 */
export function decodeSpoolRecord(body: Buffer): SpoolRecord | undefined {
  if (body.length < FIXED_BYTES) return undefined;
  let o = 0;
  const seq = Number(body.readBigUInt64LE(o));
  o += 8;
  const flags = body.readUInt8(o++);
  const kindLength = body.readUInt8(o++);
  if (o + kindLength + 2 > body.length || (flags & 3) === 3) return undefined;
  const kind = body.toString('latin1', o, o + kindLength);
  o += kindLength;
  const topicLength = body.readUInt16LE(o);
  o += 2;
  if (o + topicLength > body.length) return undefined;
  const topic = body.toString('utf8', o, o + topicLength);
  o += topicLength;
  return {
    seq,
    topic,
    payload: body.subarray(o),
    qos: (flags & 3) as 0 | 1 | 2,
    retain: (flags & 4) !== 0,
    kind,
  };
}
