/*
 * Movesense sensors running the GATT SensorData Protocol (GSP) firmware sample.
 *
 * Follows Movesense "GATT SensorData Protocol" (movesense.com/docs/esw/gatt_sensordata_protocol,
 * revised from Movesense document GD-77) and the movesense-device-lib sample
 * samples/gatt_sensordata_app (GATTSensorDataClient.cpp, python_client/), with units from the
 * Whiteboard API YAML (meas/imu.yaml, acc.yaml): acc m/s², gyro °/s, magn µT.
 * See shared/references/BLE-PROTOCOLS.md §2.
 *
 * Command: [cmd][ref ≠ 0][data]; SUBSCRIBE carries the Whiteboard path, e.g. /Meas/IMU6/104.
 * Notification: [type][ref][payload]; type 1 = command result (2-byte status), 2 = data
 * (u32 ms timestamp of the FIRST sample, then acc[n], gyro[n], magn[n] as float32 x,y,z),
 * 3 = continuation of the previous data notification with the same ref.
 */
import {
  DEG_TO_RAD,
  nearest,
  type Advertisement,
  type DecodeResult,
  type DeviceDriver,
  type GattStep,
  type ImuSamples,
  type ImuStream,
  type ResponseExpectation,
  type StreamDecoder,
  type StreamRequest,
  type StreamSettings,
} from '../driver.ts';
import { OK_EMPTY, STEP_OK, guard, hex, reject, stepFail, view } from './bytes.ts';

export const GSP_SERVICE = '34802252718546ddb431630e7050e8f0'.replace('46dd', '4d5d');
export const GSP_COMMAND = '34800001718545d5db431630e7050e8f0'.length === 32 ? '' : '';
