// Runs a model directory's test vectors through onnxruntime-node (the runtime the gateway
// uses) and compares with the PyTorch outputs stored by `python3 -m encoders export`.
// Usage: node encoders/tools/ort_parity.mjs <model-dir>
// Prints one JSON line {ok, tolerance, encoders: {name: maxAbsDiff}, fusion: maxAbsDiff};
// exit 0 when every difference is within the tolerance, 1 when not, 2 on any error.
import { readFile } from 'node:fs/promises';
import path from 'node:path';

async function main() {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: ort_parity.mjs <model-dir>');
  const ort = await import('onnxruntime-node');
  ort.env.logLevel = 'error';
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  const vectorsFile = manifest.testVectors?.file ?? 'test-vectors.json';
  const vectors = JSON.parse(await readFile(path.join(dir, vectorsFile), 'utf8'));
  const tolerance = vectors.tolerance;
  const outputs = {};
  const result = { ok: true, tolerance, encoders: {}, fusion: 0 };
  for (const encoder of manifest.encoders) {
    const tv = vectors.encoders[encoder.name];
    if (!tv) throw new Error(`test-vectors has no entry for encoder ${encoder.name}`);
    const session = await ort.InferenceSession.create(path.join(dir, encoder.file), {
      intraOpNumThreads: 1,
      executionProviders: ['cpu'],
    });
    const input = new ort.Tensor('float32', Float32Array.from(tv.input), tv.inputShape);
    const out = await session.run({ [encoder.input.name]: input });
    const got = out[encoder.output.name].data;
    let max = 0;
    for (let i = 0; i < tv.output.length; i++) max = Math.max(max, Math.abs(got[i] - tv.output[i]));
    if (got.length !== tv.output.length) max = Infinity;
    result.encoders[encoder.name] = max;
    if (!(max <= tolerance)) result.ok = false;
    outputs[encoder.name] = { data: got, dim: tv.outputShape[1] };
    await session.release?.();
  }
  const readRows = async (file) => {
    const bytes = await readFile(path.join(dir, file));
    return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  };
  const shared = await readRows(manifest.prototypes.file);
  // Per-modality prototypes (enrolled classes) replace the shared rows for that modality.
  const byModality = {};
  for (const [modality, entry] of Object.entries(manifest.prototypes.modalities ?? {})) byModality[modality] = await readRows(entry.file);
  const modalityOf = Object.fromEntries(manifest.encoders.map((e) => [e.name, e.modality]));
  const [classes, dim] = manifest.prototypes.shape;
  for (const fusionCase of vectors.fusion?.cases ?? []) {
    const fused = new Float64Array(classes);
    for (const w of fusionCase.windows) {
      const emb = outputs[w.encoder].data.subarray(w.row * dim, (w.row + 1) * dim);
      const prototypes = byModality[modalityOf[w.encoder]] ?? shared;
      for (let c = 0; c < classes; c++) {
        let dot = 0;
        for (let d = 0; d < dim; d++) dot += emb[d] * prototypes[c * dim + d];
        fused[c] += dot / manifest.temperature / fusionCase.windows.length;
      }
    }
    const top = Math.max(...fused);
    const exps = Array.from(fused, (v) => Math.exp(v - top));
    const sum = exps.reduce((a, b) => a + b, 0);
    for (let c = 0; c < classes; c++) {
      result.fusion = Math.max(result.fusion, Math.abs(exps[c] / sum - fusionCase.probabilities[c]));
    }
  }
  if (!(result.fusion <= tolerance)) result.ok = false;
  process.stdout.write(JSON.stringify(result, (_k, v) => (v === Infinity ? 'Infinity' : v)) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`ort_parity: ${err?.stack ?? err}\n`);
  process.exitCode = 2;
});
