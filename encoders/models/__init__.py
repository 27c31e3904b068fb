"""The encoders (IMU, pose, text) and the joint model; see :mod:`.registry` for building them by name."""

from __future__ import annotations

# Importing the encoder modules registers their factories.
from encoders.models import imu as _imu  # noqa: F401
from encoders.models import pose as _pose  # noqa: F401
from encoders.models.registry import count_parameters, create_model, register_model, registered_models

__all__ = ["count_parameters", "create_model", "register_model", "registered_models"]
