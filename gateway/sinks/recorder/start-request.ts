import { GatewayError } from '../../observability/errors.ts';
import { checkCell } from './format.ts';
import type { RecordingCameraSpec, RecordingDeviceSpec, StartRequest } from './types.ts';

/*
 * Checks a start request before anything touches the disk: the recording's name, and the
 * subjects, devices and cameras it declares (each id must be writable to a CSV cell). Bad
 * input is a RECORDER_BAD_REQUEST naming the field.
 */

const SAFE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

export interface CheckedStart {
  readonly name: string;
  /** Subject id → display name. */
  readonly subjects: Map<string, string>;
  readonly declaredDevices: Map<string, RecordingDeviceSpec>;
  readonly declaredCameras: Map<string, RecordingCameraSpec>;
}

export function checkStartRequest(request: StartRequest, defaultName: string): CheckedStart {
  const name = request.name ?? defaultName;
  if (!SAFE_NAME.test(name)) {
    throw new GatewayError(
      'RECORDER_BAD_REQUEST',
      `recording name "${name}" must be 1-64 letters, digits, ".", "_" or "-"`,
    );
  }
  const subjects = new Map<string, string>();
  const addSubject = (id: string, field: string): void => {
    checkCell(field, id, 'RECORDER_BAD_REQUEST');
    if (!subjects.has(id)) subjects.set(id, id);
  };
  for (const s of request.subjects ?? []) {
    const spec = typeof s === 'string' ? { id: s } : s;
    checkCell('subjects[].id', spec.id, 'RECORDER_BAD_REQUEST');
    subjects.set(spec.id, spec.name ?? spec.id);
  }
  const declaredDevices = new Map<string, RecordingDeviceSpec>();
  const declaredCameras = new Map<string, RecordingCameraSpec>();
  for (const d of request.devices ?? []) {
    if (d.kind === 'camera')
      declaredCameras.set(d.id, { id: d.id, ...(d.rateHz === undefined ? {} : { rateHz: d.rateHz }) });
    else declaredDevices.set(d.id, d);
    if (typeof d.subject === 'string') addSubject(d.subject, `devices[${d.id}].subject`);
  }
  for (const c of request.cameras ?? []) {
    declaredCameras.set(c.id, c);
    for (const subject of Object.values(c.tracks ?? {})) addSubject(subject, `cameras[${c.id}].tracks`);
  }
  return { name, subjects, declaredDevices, declaredCameras };
}
