"""Export: one ONNX per encoder, class prototypes, test vectors and a validated manifest.

Everything is written to a staging directory next to the target and moved into place only
after the manifest validates against config/schemas/model-manifest.schema.json and the
exported graphs reproduce the PyTorch outputs in onnxruntime-node (the gateway's runtime).
On any disagreement the export refuses and leaves the previous model untouched.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import shutil
import subprocess
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from torch import nn

from encoders.data.paths import repo_root
from encoders.models.imu import IMU_CHANNELS, IMU_UNITS
from encoders.models.joint import JointModel
from encoders.models.pose import COCO17_KEYPOINTS, POSE_NORMALISATION
from encoders.pairs import IMU_HOP, IMU_RATE_HZ, IMU_WINDOW, POSE_HOP, POSE_RATE_HZ, POSE_WINDOW

if TYPE_CHECKING:
    from encoders.enroll import PrototypeSet

SCHEMA_PATH = repo_root() / "config" / "schemas" / "model-manifest.schema.json"
PARITY_SCRIPT = Path(__file__).resolve().parent / "tools" / "ort_parity.mjs"
DEFAULT_OPSET = 17
#: the torch vs onnxruntime-node check: when node is present, always (fail without it), never
Parity = Literal["auto", "require", "skip"]
#: a new model's version when none is given (the manifest's ``version``)
DEFAULT_MODEL_VERSION = "0.1.0"
TOLERANCE = 1e-4
OUTPUT_NAME = "embedding"


class ExportError(RuntimeError):
    """The export cannot produce a model the gateway would accept."""


class ManifestError(ValueError):
    """A model directory's manifest is invalid or does not match its files."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate_manifest(manifest: dict, where: str = "manifest") -> None:
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(manifest), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  {'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}" for e in errors[:10]]
        raise ManifestError(f"{where} does not validate against {SCHEMA_PATH.name}:\n" + "\n".join(lines))


def verify_model_dir(model_dir: Path) -> dict:
    """The checks the gateway makes before loading: schema, then every sha256 and shape."""
    model_dir = Path(model_dir)
    manifest_path = model_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ManifestError(f"{manifest_path}: not found")
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ManifestError(f"{manifest_path}: not valid JSON ({err})") from err
    validate_manifest(manifest, str(manifest_path))
    files = [(f"encoder {e['name']}", e["file"], e["sha256"]) for e in manifest["encoders"]]
    files.append(("prototypes", manifest["prototypes"]["file"], manifest["prototypes"]["sha256"]))
    for modality, entry in manifest["prototypes"].get("modalities", {}).items():
        files.append((f"{modality} prototypes", entry["file"], entry["sha256"]))
    if "checkpoint" in manifest:
        files.append(("checkpoint", manifest["checkpoint"]["file"], manifest["checkpoint"]["sha256"]))
    if "testVectors" in manifest:
        files.append(("testVectors", manifest["testVectors"]["file"], manifest["testVectors"]["sha256"]))
    for what, rel, expected in files:
        path = model_dir / rel
        if not path.is_file():
            raise ManifestError(f"{path}: {what} file named in {manifest_path} is missing")
        actual = sha256_file(path)
        if actual != expected:
            raise ManifestError(f"{path}: sha256 mismatch for {what}: manifest says {expected}, file has {actual}")
    for entry in [manifest["prototypes"], *manifest["prototypes"].get("modalities", {}).values()]:
        classes, dim = entry["shape"]
        size = (model_dir / entry["file"]).stat().st_size
        if classes != len(manifest["classes"]) or dim != manifest["embeddingDim"] or size != classes * dim * 4:
            raise ManifestError(
                f"{model_dir / entry['file']}: {size} bytes / shape {[classes, dim]} does not fit "
                f"{len(manifest['classes'])} classes x embeddingDim {manifest['embeddingDim']}"
            )
    return manifest


def _export_onnx(module: nn.Module, example: torch.Tensor, input_name: str, path: Path, opset: int) -> None:
    module.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=[input_name],
            output_names=[OUTPUT_NAME],
            dynamic_axes={input_name: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
            opset_version=opset,
            do_constant_folding=True,
        )
    import onnx
    import onnx.checker

    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    if dims[0].dim_param != "batch":
        raise ExportError(f"{path}: input batch axis is not dynamic ('batch')")


def _softmax(x: np.ndarray) -> np.ndarray:
    z = x - x.max()
    e = np.exp(z)
    return e / e.sum()


def _fusion_cases(embeddings: dict[str, np.ndarray], prototypes: np.ndarray, temperature: float, by_modality: dict[str, np.ndarray] | None = None) -> list[dict]:
    """Cases covering each modality alone, both, and two IMUs (which count separately)."""
    specs: list[list[tuple[str, int]]] = [[("imu", 0)], [("pose", 0)], [("imu", 0), ("pose", 0)], [("imu", 1), ("imu", 2), ("pose", 1)]]
    cases = []
    for spec in specs:
        spec = [(enc, row) for enc, row in spec if enc in embeddings and row < len(embeddings[enc])]
        if not spec:
            continue
        rows = by_modality or {}
        logits = np.mean([embeddings[enc][row].astype(np.float64) @ rows.get(enc, prototypes).T.astype(np.float64) / temperature for enc, row in spec], axis=0)
        cases.append({"windows": [{"encoder": enc, "row": row} for enc, row in spec], "probabilities": _softmax(logits).tolist()})
    return cases


def node_available() -> str | None:
    node = shutil.which("node")
    if node is None:
        return None
    if not (repo_root() / "node_modules" / "onnxruntime-node").is_dir():
        return None
    return node


def run_ort_parity(model_dir: Path, timeout_s: float = 120.0) -> dict:
    """Run the test vectors through onnxruntime-node; raises ExportError on disagreement."""
    node = node_available()
    if node is None:
        raise ExportError("node or node_modules/onnxruntime-node not found: cannot run the ONNX parity check")
    proc = subprocess.run([node, str(PARITY_SCRIPT), str(model_dir)], capture_output=True, text=True, timeout=timeout_s, cwd=repo_root())
    if proc.returncode == 2 or not proc.stdout.strip():
        raise ExportError(f"ONNX parity check could not run: {proc.stderr.strip() or proc.stdout.strip()}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if proc.returncode != 0 or not report.get("ok"):
        raise ExportError(
            f"torch and ONNX (onnxruntime-node) disagree beyond {report.get('tolerance')}: "
            f"max abs diff per encoder {report.get('encoders')}, fused probabilities {report.get('fusion')}; export refused"
        )
    return report


def export_model(
    model: JointModel,
    out_dir: Path,
    *,
    name: str,
    version: str,
    imu_windows: np.ndarray,
    pose_windows: np.ndarray,
    training: dict[str, Any],
    description: str = "",
    placements: Sequence[str] = ("wrist", "thigh"),
    opset: int = DEFAULT_OPSET,
    parity: Parity = "auto",
    prototypes: PrototypeSet | None = None,
    open_set: dict | None = None,
    enrollment: dict | None = None,
    checkpoint_extra: dict | None = None,
) -> dict:
    """Write ``out_dir`` (replacing it) and return the manifest.

    ``imu_windows`` [n, 6, 100] and ``pose_windows`` [n, 40, 17, 3] are real test windows used
    as test vectors. ``parity``: 'auto' checks with onnxruntime-node when node is present,
    'require' fails without it, 'skip' does not check (tests of the failure paths only).

    ``prototypes`` (default: the model's anchors) may carry per-modality rows (enrolled
    classes); ``open_set`` / ``enrollment`` are written as the manifest's optional sections;
    ``checkpoint_extra`` not None also ships the PyTorch checkpoint (``checkpoint.pt``) so
    fine-tuning can start from the exported model.
    """
    if opset > 17:
        raise ExportError(f"opset {opset} > 17: the gateway's onnxruntime targets opset ≤ 17")
    out_dir = Path(out_dir)
    staging = out_dir.parent / f".{out_dir.name}.staging-{os.getpid()}"
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    try:
        manifest = _write_model(model, staging, name, version, imu_windows, pose_windows, training, description, placements, opset, prototypes)
        if open_set is not None:
            manifest["openSet"] = open_set
        if enrollment is not None:
            manifest["enrollment"] = enrollment
        if checkpoint_extra is not None:
            from encoders.checkpoint import FORMAT, save_checkpoint

            save_checkpoint(model, staging / "checkpoint.pt", checkpoint_extra)
            manifest["checkpoint"] = {"file": "checkpoint.pt", "sha256": sha256_file(staging / "checkpoint.pt"), "format": FORMAT}
        _reorder_and_write(manifest, staging / "manifest.json")
        validate_manifest(manifest, f"{staging / 'manifest.json'}")
        verify_model_dir(staging)
        if parity == "require" or (parity == "auto" and node_available()):
            report = run_ort_parity(staging)
            print(f"parity torch vs onnxruntime-node: max abs diff {report['encoders']}, fused {report['fusion']:.2e} (tolerance {report['tolerance']})", flush=True)
        elif parity == "auto":
            print("warning: node/onnxruntime-node not found; ONNX parity NOT checked (the gateway's contract test will)", flush=True)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.rename(out_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return manifest


def _reorder_and_write(manifest: dict, path: Path) -> None:
    """Optional sections go before the test vectors (a reader sees them next to training)."""
    tail = manifest.pop("testVectors", None)
    if tail is not None:
        manifest["testVectors"] = tail
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def _prototype_entry(rows: np.ndarray, target: Path, file: str) -> dict:
    rows = np.ascontiguousarray(rows, dtype="<f4")
    rows.tofile(target / file)
    return {"file": file, "sha256": sha256_file(target / file), "dtype": "float32", "shape": list(rows.shape)}


def _write_model(model: JointModel, target: Path, name: str, version: str, imu_windows: np.ndarray, pose_windows: np.ndarray, training: dict, description: str, placements: Sequence[str], opset: int, prototype_set: PrototypeSet | None = None) -> dict:
    model.eval()
    dim = model.config.embedding_dim
    imu_in = torch.from_numpy(np.ascontiguousarray(imu_windows, dtype=np.float32))
    pose_in = torch.from_numpy(np.ascontiguousarray(pose_windows, dtype=np.float32))
    if tuple(imu_in.shape[1:]) != (6, IMU_WINDOW) or tuple(pose_in.shape[1:]) != (POSE_WINDOW, 17, 3):
        raise ExportError(f"test windows have shapes {list(imu_in.shape)} / {list(pose_in.shape)}, expected [n, 6, {IMU_WINDOW}] / [n, {POSE_WINDOW}, 17, 3]")
    _export_onnx(model.imu, imu_in[:1], "imu", target / "imu.onnx", opset)
    _export_onnx(model.pose, pose_in[:1], "pose", target / "pose.onnx", opset)
    with torch.no_grad():
        outputs = {"imu": model.imu(imu_in).numpy(), "pose": model.pose(pose_in).numpy()}
        prototypes = model.prototypes().numpy().astype("<f4")
    if prototype_set is not None:
        if prototype_set.class_ids != [c.id for c in model.classes]:
            raise ExportError(f"prototype classes {prototype_set.class_ids} differ from the model's {[c.id for c in model.classes]}")
        prototypes = prototype_set.shared.astype("<f4")
    temperature = model.temperature()
    prototypes.tofile(target / "prototypes.f32")
    modality_files = {m: _prototype_entry(rows, target, f"prototypes-{m}.f32") for m, rows in (prototype_set.modalities.items() if prototype_set else [])}
    vectors = {
        "tolerance": TOLERANCE,
        "encoders": {
            "imu": {"inputShape": list(imu_in.shape), "input": imu_in.numpy().ravel().tolist(), "outputShape": list(outputs["imu"].shape), "output": outputs["imu"].ravel().tolist()},
            "pose": {"inputShape": list(pose_in.shape), "input": pose_in.numpy().ravel().tolist(), "outputShape": list(outputs["pose"].shape), "output": outputs["pose"].ravel().tolist()},
        },
        "fusion": {"cases": _fusion_cases(outputs, prototypes, temperature, {m: r.astype("<f4") for m, r in prototype_set.modalities.items()} if prototype_set else None)},
    }
    (target / "test-vectors.json").write_text(json.dumps(vectors), encoding="utf-8")
    counts = model.parameter_counts()
    mean = model.imu.mean.reshape(-1).tolist()
    std = model.imu.std.reshape(-1).tolist()
    manifest = {
        "schemaVersion": 1,
        "name": name,
        "version": version,
        "createdAt": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "description": description or f"{name}: IMU + pose encoders and class anchors in one {dim}-d joint space",
        "embeddingDim": dim,
        "temperature": temperature,
        "classes": [
            {"id": c.id, "name": c.name, "description": c.description, **({"sourceLabel": c.source_label} if c.source_label is not None else {})}
            for c in model.classes
        ],
        "prototypes": {
            "file": "prototypes.f32",
            "sha256": sha256_file(target / "prototypes.f32"),
            "dtype": "float32",
            "shape": [len(model.classes), dim],
            "source": ("mixed" if prototype_set and prototype_set.enrolled else model.text_source),
            **({"modalities": modality_files} if modality_files else {}),
        },
        "encoders": [
            {
                "name": "imu",
                "modality": "imu",
                "file": "imu.onnx",
                "sha256": sha256_file(target / "imu.onnx"),
                "opset": opset,
                "input": {"name": "imu", "shape": ["batch", 6, IMU_WINDOW], "dtype": "float32"},
                "output": {"name": OUTPUT_NAME, "shape": ["batch", dim], "normalised": True},
                "sampleRateHz": IMU_RATE_HZ,
                "windowSamples": IMU_WINDOW,
                "hopSamples": IMU_HOP,
                "channels": list(IMU_CHANNELS),
                "units": list(IMU_UNITS),
                "placements": list(placements),
                "normalisation": {"appliedInGraph": True, "method": "per-channel (x - mean) / std", "mean": mean, "std": std},
                "params": counts["imu"],
            },
            {
                "name": "pose",
                "modality": "pose",
                "file": "pose.onnx",
                "sha256": sha256_file(target / "pose.onnx"),
                "opset": opset,
                "input": {"name": "pose", "shape": ["batch", POSE_WINDOW, 17, 3], "dtype": "float32"},
                "output": {"name": OUTPUT_NAME, "shape": ["batch", dim], "normalised": True},
                "sampleRateHz": POSE_RATE_HZ,
                "windowSamples": POSE_WINDOW,
                "hopSamples": POSE_HOP,
                "channels": ["x", "y", "score"],
                "units": ["normalised-image", "normalised-image", "score"],
                "normalisation": {"appliedInGraph": True, "method": POSE_NORMALISATION},
                "params": counts["pose"],
            },
        ],
        "fusion": {"method": "mean-logits"},
        "pose": {"layout": "coco17", "keypoints": list(COCO17_KEYPOINTS), "coordinates": "normalised-image-2d", "normalisation": POSE_NORMALISATION},
        "training": training,
        "testVectors": {"file": "test-vectors.json", "sha256": sha256_file(target / "test-vectors.json"), "tolerance": TOLERANCE},
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
