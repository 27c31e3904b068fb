import { Registry } from 'prom-client';
import { Recorder } from '../../../gateway/sinks/recorder/index.ts';
import { demoChunks, fixedClock, ORIGIN_2026_NS } from './support.ts';
const { chunks } = await demoChunks(ORIGIN_2026_NS);
for (let rep = 0; rep < 3; rep++) {
  const rec = new Recorder({ gatewayId: 'b', registry: new Registry(), clock: fixedClock(ORIGIN_2026_NS), options: { dir: '/tmp/g8b', maxQueuedBytesPerFile: 64 << 20 } });
  await rec.start({ name: 'bench' });
  let imuT = 0, poseT = 0, imuRows = 0, poseRows = 0;
  for (const c of chunks) { const t = performance.now(); rec.write(c); const dt = performance.now() - t; if (c.modality === 'imu') { imuT += dt; imuRows += c.tNs.length; } else { poseT += dt; poseRows += c.tNs.length; } }
  const t2 = performance.now(); const s = await rec.stop(); const drain = performance.now() - t2;
  console.log(`imu ${(imuT*1000/imuRows).toFixed(2)} µs/row, pose ${(poseT*1000/poseRows).toFixed(2)} µs/frame, total write ${(imuT+poseT).toFixed(0)} ms for ${imuRows+poseRows} rows; drain ${drain.toFixed(0)} ms; ${s.bytes} bytes; bytes/row imu ~${0}`);
}
