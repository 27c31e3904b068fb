import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { loadTfjsMoveNet, runTfjs, tfjsModelPath, useBackend, type MoveNetVariant } from './tfjs-reference.ts';
import { letterbox, resizeLetterbox } from '../../gateway/sources/camera/image.ts';
import { PHOTOS, loadPhoto } from '../../test/fixtures/people/photos.ts';
ort.env.logLevel = 'error';
await useBackend((process.argv[2] ?? 'cpu') as 'cpu');
for (const v of ['lightning', 'thunder', 'multipose'] as MoveNetVariant[]) {
  const size = v === 'lightning' ? 192 : 256;
  const s = await ort.InferenceSession.create(readFileSync(`models/movenet/${v}.onnx`), { intraOpNumThreads: 2 });
  const tm = await loadTfjsMoveNet(tfjsModelPath(v));
  for (const p of PHOTOS) {
    const img = loadPhoto(p.id);
    const f = resizeLetterbox(img.data, letterbox(img.width, img.height, size)).map(Math.round);
    const ints = Int32Array.from(f);
    const a = (await s.run({ input: new ort.Tensor('float32', f, [1, size, size, 3]) })).output!.data as Float32Array;
    const b = await runTfjs(tm, ints, size);
    let max = 0; for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
    console.log(v, p.id, a.length, b.length, 'maxdiff', max.toExponential(2), 'scores', Array.from(a).filter((_, i) => i % 3 === 2).slice(0, 17).map((x) => x.toFixed(2)).join(' '));
  }
}
