"""Data side of the trainer: dataset loaders, the recording format, windowing."""

from __future__ import annotations

from .errors import DatasetError
from .paths import datasets_root, repo_root
from .pose_projection import COCO17_KEYPOINTS, kinect20_to_coco17
from .utd_mhad import (
    CROSS_SUBJECT_TEST,
    CROSS_SUBJECT_TRAIN,
    IMU_RATE_HZ,
    UTD_CLASSES,
    ClassInfo,
    Clip,
    load_utd_mhad,
    resample_pose,
)

__all__ = [
    "COCO17_KEYPOINTS",
    "CROSS_SUBJECT_TEST",
    "CROSS_SUBJECT_TRAIN",
    "IMU_RATE_HZ",
    "UTD_CLASSES",
    "ClassInfo",
    "Clip",
    "DatasetError",
    "datasets_root",
    "kinect20_to_coco17",
    "load_utd_mhad",
    "repo_root",
    "resample_pose",
]
