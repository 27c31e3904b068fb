import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { chooseProviders, visibleLibraries } from '../../../gateway/model/providers.ts';

test('a CPU machine: tensorrt and cuda are skipped, each naming the libraries it lacks', () => {
  const choice = chooseProviders(['tensorrt', 'cuda', 'cpu'], new Set(['libc.so.6', 'libm.so.6']));
  assert.deepEqual(choice.usable, ['cpu']);
  assert.deepEqual(
    choice.skipped.map((s) => s.provider),
    ['tensorrt', 'cuda'],
  );
  assert.ok(choice.skipped[0]!.missing.includes('libnvinfer.so'));
  assert.ok(choice.skipped[1]!.missing.includes('libcudart.so'));
});

test('a CUDA machine without TensorRT keeps cuda before cpu, versioned sonames count', () => {
  const libs = new Set([
    'libonnxruntime_providers_cuda.so',
    'libcudart.so.12',
    'libcublas.so.12',
    'libcudnn.so.9',
  ]);
  assert.deepEqual(chooseProviders(['tensorrt', 'cuda', 'cpu'], libs).usable, ['cuda', 'cpu']);
  // A prefix is not a match: libcudart.so.12 must not satisfy libcudart_static.
  assert.deepEqual(chooseProviders(['cuda', 'cpu'], new Set(['libcudart_static.a'])).usable, ['cpu']);
});

test('nothing usable: the configured list is kept, so onnxruntime gives its own reason', () => {
  assert.deepEqual(chooseProviders(['cuda'], new Set()).usable, ['cuda']);
});

test('libraries on LD_LIBRARY_PATH are seen by the probe', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'mujo-libs-'));
  try {
    await writeFile(join(dir, 'libnvinfer.so.10'), '');
    const libs = visibleLibraries({ LD_LIBRARY_PATH: dir });
    assert.ok(libs.has('libnvinfer.so.10'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
