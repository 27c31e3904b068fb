"""MuJo-style joint-space trainer for mujo-gateway.

Trains small IMU and pose encoders whose L2-normalised embeddings share one space with
class text anchors, evaluates them per modality combination, and exports ONNX files plus
the manifest the gateway loads (see docs/model-format.md). Run ``python3 -m encoders --help``.
"""

import os as _os

# Must happen before torch loads libgomp. On a shared 2-core machine, OpenMP workers that
# spin while waiting starve each other: measured 35 samples/s with spinning vs 300-430
# with passive waiting (2 threads, other jobs running).
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
