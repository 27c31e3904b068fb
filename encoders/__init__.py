"""MuJo-style joint-space trainer for mujo-gateway.

Trains small IMU and pose encoders whose L2-normalised embeddings share one space with
class text anchors, evaluates them per modality combination, and exports ONNX files plus
the manifest the gateway loads (see docs/model-format.md). Run ``python3 -m encoders --help``.
"""

__version__ = "0.1.0"
