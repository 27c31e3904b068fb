import type { Counter, Gauge, Registry } from 'prom-client';
import { counter as counterOn, gauge as gaugeOn } from '../../observability/metrics.ts';

/** The BLE stack's Prometheus instruments; registered once per registry and reused. */
export interface BleMetrics {
  readonly connections: Gauge<'adapter'>;
  readonly connectAttempts: Counter<'adapter' | 'result'>;
  readonly startFailures: Counter<'device' | 'code'>;
  readonly reconnects: Counter<'device'>;
  readonly stalls: Counter<'device'>;
  readonly adapterResets: Counter<'adapter' | 'cause'>;
  readonly decodeErrors: Counter<'device' | 'reason'>;
  /** Samples lost in transit (sequence/time gaps), and samples dropped by the gateway, by reason. */
  readonly dropped: Counter<'device' | 'reason'>;
  readonly samples: Counter<'device'>;
  readonly connected: Gauge<'device'>;
  readonly rssi: Gauge<'device'>;
  readonly battery: Gauge<'device'>;
  readonly rateHz: Gauge<'device'>;
}

export function bleMetrics(registry: Registry): BleMetrics {
  const counter = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    counterOn(registry, name, help, labelNames);
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[]) =>
    gaugeOn(registry, name, help, labelNames);
  return {
    connections: gauge('mujo_ble_connections', 'BLE links currently held, by adapter.', ['adapter']),
    connectAttempts: counter(
      'mujo_ble_connect_attempts_total',
      'BLE connection attempts, by adapter and result (ok or error code).',
      ['adapter', 'result'],
    ),
    startFailures: counter(
      'mujo_ble_start_failures_total',
      'Connected devices whose streams failed to start, by error code.',
      ['device', 'code'],
    ),
    reconnects: counter(
      'mujo_ble_reconnects_total',
      'Streaming devices that lost their link and were reconnected.',
      ['device'],
    ),
    stalls: counter(
      'mujo_ble_stalls_total',
      'Streams that went silent on a live link (watchdog reconnects).',
      ['device'],
    ),
    adapterResets: counter('mujo_ble_adapter_resets_total', 'HCI resets of an adapter, by cause.', [
      'adapter',
      'cause',
    ]),
    decodeErrors: counter(
      'mujo_ble_decode_errors_total',
      'Notifications a decoder rejected, by device and reason.',
      ['device', 'reason'],
    ),
    dropped: counter(
      'mujo_ble_dropped_samples_total',
      'IMU samples lost or discarded, by device and reason (gap, decode, not_ascending).',
      ['device', 'reason'],
    ),
    samples: counter('mujo_ble_samples_total', 'IMU samples decoded, by device.', ['device']),
    connected: gauge('mujo_ble_device_connected', '1 while a device streams.', ['device']),
    rssi: gauge('mujo_ble_device_rssi_dbm', 'Last RSSI of a device, dBm.', ['device']),
    battery: gauge('mujo_ble_device_battery_ratio', 'Battery level of a device, 0..1.', ['device']),
    rateHz: gauge('mujo_ble_device_rate_hz', 'Measured sample rate of a device over the last 5 s.', [
      'device',
    ]),
  };
}
