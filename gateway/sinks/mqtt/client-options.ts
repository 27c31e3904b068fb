import { readFileSync } from 'node:fs';
import type { IClientOptions } from 'mqtt';
import { GatewayError } from '../../observability/errors.ts';

export interface MqttTlsOptions {
  /** CA certificate file (PEM) to trust. */
  readonly ca?: string;
  /** Client certificate file (PEM). */
  readonly cert?: string;
  /** Client private key file (PEM). */
  readonly key?: string;
  /** Refuse a broker whose certificate does not verify (default true). */
  readonly rejectUnauthorized?: boolean;
}

export interface MqttConnectionOptions {
  readonly url: string;
  /** 5 for real brokers; 4 (MQTT 3.1.1) for the embedded aedes broker, which refuses v5. */
  readonly protocolVersion: 4 | 5;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: MqttTlsOptions;
  readonly availabilityTopic: string;
  readonly reconnectPeriodMs: number;
  readonly connectTimeoutMs: number;
  readonly keepaliveS: number;
}

function readPem(key: string, path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new GatewayError(
      'MQTT_TLS_FILE',
      `mqtt.tls.${key}: cannot read ${path}: ${(err as Error).message}`,
      { cause: err },
    );
  }
}

/** The URL as it may appear in logs and /health: no password. */
export { redactUrl } from '../../observability/redact.ts';

/**
 * mqtt.js options. Clean sessions: what must survive a disconnect is kept by our own queue
 * and spool, and mqtt.js re-sends its in-flight QoS 1 packets on reconnect before anything
 * new. The last will makes the broker flip availability to `offline` if we die.
 */
export function buildClientOptions(o: MqttConnectionOptions): IClientOptions {
  const tls = o.tls ?? {};
  const options: IClientOptions = {
    protocolVersion: o.protocolVersion,
    clientId: o.clientId,
    clean: true,
    reconnectPeriod: o.reconnectPeriodMs,
    connectTimeout: o.connectTimeoutMs,
    keepalive: o.keepaliveS,
    queueQoSZero: false,
    resubscribe: true,
    will: { topic: o.availabilityTopic, payload: Buffer.from('offline'), qos: 1, retain: true },
    rejectUnauthorized: tls.rejectUnauthorized ?? true,
  };
  if (o.username !== undefined) options.username = o.username;
  if (o.password !== undefined) options.password = o.password;
  const ca = readPem('ca', tls.ca);
  const cert = readPem('cert', tls.cert);
  const key = readPem('key', tls.key);
  if (ca) options.ca = ca;
  if (cert) options.cert = cert;
  if (key) options.key = key;
  if ((cert === undefined) !== (key === undefined)) {
    throw new GatewayError(
      'MQTT_TLS_CONFIG',
      'mqtt.tls: cert and key must be given together (client certificate authentication)',
    );
  }
  return options;
}
