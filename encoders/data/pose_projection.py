"""Kinect v1 20-joint 3D skeletons → COCO-17 2D keypoints, as a 640×480 camera would see them.

The gateway's cameras run a 2D pose estimator (MoveNet, COCO-17 layout, normalised image
coordinates), so the trainer must feed the pose encoder the same kind of input. UTD-MHAD ships
Kinect v1 skeletons in metres in the Kinect "skeleton space": origin at the sensor, X grows to
the sensor's left, Y up, Z away from the sensor (Kinect for Windows SDK 1.x, "Coordinate
Spaces"). We project them through a pinhole camera placed at the sensor origin.

Projection
----------
``u = cx - fx * X / Z``, ``v = cy - fy * Y / Z``, then ``x = u / 640``, ``y = v / 480``.

* ``fx = fy = 531.15`` px, ``cx = 320``, ``cy = 240`` for 640×480: the nominal focal length of
  the Kinect v1 colour camera, ``NUI_CAMERA_COLOR_NOMINAL_FOCAL_LENGTH_IN_PIXELS`` in the SDK's
  ``NuiImageCamera.h`` ("Based on 640x480 pixel size"); principal point at the image centre.
  The colour camera, not the depth camera (285.63 px at 320×240), because the gateway's pose
  estimator looks at RGB frames. The ~2.5 cm colour/depth baseline is ignored.
* The minus sign on X makes the image un-mirrored, like an ordinary camera: a person facing the
  camera has their right side (Kinect +X) on the left of the image, which is what MoveNet
  reports on real video. The minus on Y turns "Y up" into image "y down".

Joint mapping (Kinect index, 0-based, from ``skeleton_joint_order.txt``)
-------------------------------------------------------------------------
=================  =========================  =====
COCO keypoint      source                     score
=================  =========================  =====
nose               head (3)                   1.0
left/right_eye     synthesized from head      0.5
left/right_ear     synthesized from head      0.5
left_shoulder      left_shoulder (4)          1.0
right_shoulder     right_shoulder (8)         1.0
left_elbow         left_elbow (5)             1.0
right_elbow        right_elbow (9)            1.0
left_wrist         left_wrist (6)             1.0
right_wrist        right_wrist (10)           1.0
left_hip           left_hip (12)              1.0
right_hip          right_hip (16)             1.0
left_knee          left_knee (13)             1.0
right_knee         right_knee (17)            1.0
left_ankle         left_ankle (14)            1.0
right_ankle        right_ankle (18)           1.0
=================  =========================  =====

Kinect "left"/"right" are the person's own sides (checked on the data: in UTD-MHAD's
right-hand actions the Kinect right wrist is the joint that moves most, and the person's right
shoulder has larger X). The Kinect head joint sits at the centre of the head, so it stands in for
the nose (in a frontal 2D view they nearly coincide). Eyes and ears do not exist in Kinect v1;
they are placed in 3D from the head with fixed anthropometric offsets along the head's "up" axis
(shoulder_center → head) and its "right" axis (left → right shoulder, made orthogonal to up):
eyes ±3.2 cm sideways and 3 cm up, ears ±7.5 cm sideways at head height. They get score 0.5 so
a consumer can tell them from measured joints. Kinect hands/feet/spine/hip_center are unused.
A joint with ``Z <= 0`` (not tracked) projects to (0, 0) with score 0.
"""

from __future__ import annotations

from typing import Final

import numpy as np

COCO17_KEYPOINTS: Final[tuple[str, ...]] = (
    "nose",
    "left_eye",
    "right_eye",
    "left_ear",
    "right_ear",
    "left_shoulder",
    "right_shoulder",
    "left_elbow",
    "right_elbow",
    "left_wrist",
    "right_wrist",
    "left_hip",
    "right_hip",
    "left_knee",
    "right_knee",
    "left_ankle",
    "right_ankle",
)
COCO17_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(COCO17_KEYPOINTS)}

KINECT20_JOINTS: Final[tuple[str, ...]] = (
    "head",
    "shoulder_center",
    "spine",
    "hip_center",
    "left_shoulder",
    "left_elbow",
    "left_wrist",
    "left_hand",
    "right_shoulder",
    "right_elbow",
    "right_wrist",
    "right_hand",
    "left_hip",
    "left_knee",
    "left_ankle",
    "left_foot",
    "right_hip",
    "right_knee",
    "right_ankle",
    "right_foot",
)
KINECT20_INDEX: Final[dict[str, int]] = {name: i for i, name in enumerate(KINECT20_JOINTS)}

IMAGE_WIDTH_PX: Final = 640
IMAGE_HEIGHT_PX: Final = 480
FOCAL_LENGTH_PX: Final = 531.15  # NUI_CAMERA_COLOR_NOMINAL_FOCAL_LENGTH_IN_PIXELS, 640x480
PRINCIPAL_POINT_PX: Final = (320.0, 240.0)

DIRECT_SCORE: Final = 1.0
SYNTHESIZED_SCORE: Final = 0.5

# COCO keypoint -> Kinect joint for every keypoint measured directly.
DIRECT_MAPPING: Final[dict[str, str]] = {
    "nose": "head",
    "left_shoulder": "left_shoulder",
    "right_shoulder": "right_shoulder",
    "left_elbow": "left_elbow",
    "right_elbow": "right_elbow",
    "left_wrist": "left_wrist",
    "right_wrist": "right_wrist",
    "left_hip": "left_hip",
    "right_hip": "right_hip",
    "left_knee": "left_knee",
    "right_knee": "right_knee",
    "left_ankle": "left_ankle",
    "right_ankle": "right_ankle",
}

# (sideways towards the person's right [m], up [m]) from the head joint.
FACE_OFFSETS_M: Final[dict[str, tuple[float, float]]] = {
    "left_eye": (-0.032, 0.03),
    "right_eye": (0.032, 0.03),
    "left_ear": (-0.075, 0.0),
    "right_ear": (0.075, 0.0),
}


def _unit(v: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(v, axis=-1, keepdims=True)
    return v / np.where(norm > 1e-9, norm, 1.0)


def synthesize_face_3d(joints: np.ndarray) -> dict[str, np.ndarray]:
    """Eye and ear positions (F, 3) in Kinect space from skeletons ``joints`` of shape (F, 20, 3)."""
    head = joints[:, KINECT20_INDEX["head"]]
    up = _unit(head - joints[:, KINECT20_INDEX["shoulder_center"]])
    across = joints[:, KINECT20_INDEX["right_shoulder"]] - joints[:, KINECT20_INDEX["left_shoulder"]]
    across = across - np.sum(across * up, axis=-1, keepdims=True) * up
    right = _unit(across)
    return {
        name: head + side * right + lift * up for name, (side, lift) in FACE_OFFSETS_M.items()
    }


def project_points(points: np.ndarray, focal_px: float = FOCAL_LENGTH_PX) -> tuple[np.ndarray, np.ndarray]:
    """Pinhole-project Kinect-space points (..., 3) [m] → normalised (x, y) (..., 2) and a
    validity mask (...,) that is False where the point is at or behind the sensor. ``focal_px``
    other than the Kinect's serves synthetic cameras (encoders/data/camera_views.py)."""
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    valid = z > 1e-6
    safe_z = np.where(valid, z, 1.0)
    cx, cy = PRINCIPAL_POINT_PX
    u = cx - focal_px * x / safe_z
    v = cy - focal_px * y / safe_z
    xy = np.stack([u / IMAGE_WIDTH_PX, v / IMAGE_HEIGHT_PX], axis=-1)
    xy[~valid] = 0.0
    return xy, valid


def coco17_points_3d(skeleton: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """COCO-17 keypoints in 3D Kinect space before projection: (F, 17, 3) metres and the
    (F, 17) scores of the table above (measured 1.0, synthesized face 0.5)."""
    if skeleton.ndim != 3 or skeleton.shape[1:] != (20, 3):
        raise ValueError(f"expected a (F, 20, 3) skeleton, got shape {skeleton.shape}")
    joints = skeleton.astype(np.float64, copy=False)
    frames = joints.shape[0]
    points = np.zeros((frames, len(COCO17_KEYPOINTS), 3), dtype=np.float64)
    scores = np.zeros((frames, len(COCO17_KEYPOINTS)), dtype=np.float64)
    for coco, kinect in DIRECT_MAPPING.items():
        points[:, COCO17_INDEX[coco]] = joints[:, KINECT20_INDEX[kinect]]
        scores[:, COCO17_INDEX[coco]] = DIRECT_SCORE
    for coco, position in synthesize_face_3d(joints).items():
        points[:, COCO17_INDEX[coco]] = position
        scores[:, COCO17_INDEX[coco]] = SYNTHESIZED_SCORE
    return points, scores


def project_coco17(points: np.ndarray, scores: np.ndarray, focal_px: float = FOCAL_LENGTH_PX) -> np.ndarray:
    """(F, 17, 3) camera-space points and (F, 17) scores → (F, 17, 3) float32 x, y, score."""
    xy, valid = project_points(points, focal_px)
    out = np.empty(points.shape[:2] + (3,), dtype=np.float32)
    out[..., :2] = xy
    out[..., 2] = np.where(valid, scores, 0.0)
    return out


def kinect20_to_coco17(skeleton: np.ndarray) -> np.ndarray:
    """Project a Kinect v1 skeleton sequence to COCO-17 2D keypoints.

    ``skeleton``: (F, 20, 3) joint positions in metres (Kinect skeleton space).
    Returns (F, 17, 3) float32: normalised x (right), y (down), score.
    """
    return project_coco17(*coco17_points_3d(skeleton))
