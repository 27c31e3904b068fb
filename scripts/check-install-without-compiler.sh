#!/usr/bin/env bash
# Proves the gateway installs on a machine without a compiler (a slim Raspberry Pi OS / Jetson
# userland, a slim x86 image) and says what is missing when BLE is asked for:
#   1. `npm ci --omit=dev` of the lockfile in a temp folder, with a PATH that has node and npm
#      but no make, cc, gcc, g++ or python3, and every native addon forced to build from source
#      (npm_config_build_from_source=true: what happens where no prebuilt binary fits, e.g.
#      arm64). The install must succeed: the only addons that compile (noble, its HCI socket
#      and usb) are optional, so npm drops them when their build fails.
#   2. the gateway started from that install with ble.enabled: it runs, /health reports `ble`
#      down with BLE_NOBLE_MISSING and the log says what to install.
# Offline by default (the npm cache of the CI machine's own `npm ci`); ONLINE=1 lets npm fetch.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
gateway_pid=""
cleanup() {
  if [ -n "$gateway_pid" ]; then
    kill "$gateway_pid" 2>/dev/null || true
    wait "$gateway_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A PATH without any compiler or build tool: only node, npm and what npm's scripts call.
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx sh env uname; do
  path="$(command -v "$tool")" || continue
  ln -s "$path" "$bin/$tool"
done
for tool in make cc gcc g++ c++ python3; do
  if [ -e "$bin/$tool" ]; then echo "FAIL: $tool is on the test PATH" >&2; exit 1; fi
done

install="$work/install"
mkdir -p "$install"
cp "$repo/package.json" "$repo/package-lock.json" "$repo/.npmrc" "$install/"
echo "installing (npm ci --omit=dev, no compiler on PATH, native addons built from source)…"
started=$(date +%s)
offline="--offline"
[ "${ONLINE:-0}" = "1" ] && offline=""
if ! (cd "$install" && env -i HOME="$HOME" PATH="$bin" ONNXRUNTIME_NODE_INSTALL=skip \
  npm_config_build_from_source=true \
  npm ci --omit=dev $offline --no-audit --no-fund --loglevel=error >"$work/npm.log" 2>&1); then
  cat "$work/npm.log" >&2
  echo "FAIL: npm ci did not succeed without a compiler" >&2
  exit 1
fi
echo "installed in $(($(date +%s) - started)) s"
if [ -e "$install/node_modules/@abandonware/noble/package.json" ]; then
  echo "FAIL: noble was installed although nothing could compile it" >&2
  exit 1
fi
for required in onnxruntime-node fastify mqtt tsx; do
  [ -e "$install/node_modules/$required/package.json" ] || { echo "FAIL: $required missing" >&2; exit 1; }
done

# The gateway from that install, BLE on, no replay: it must start and explain the missing piece.
# Copied, not linked: Node resolves imports from a module's real path, and the repository's own
# node_modules (with noble) must not be the one found. The model is only read, so it is linked.
cp -r "$repo/gateway" "$repo/config" "$install/"
ln -s "$repo/models" "$install/models"
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
# exec: $! must be the gateway itself; killing a subshell instead would leave the gateway running.
(cd "$install" && exec env -i HOME="$HOME" PATH="$bin" MUJO_LOG_FORMAT=json \
  MUJO__BLE__ENABLED=true MUJO__REPLAY__ENABLED=false MUJO__MQTT__QUEUE__SPOOL_DIR="$work/spool" \
  node --import tsx gateway/main.ts --port "$port" --mqtt-port 0 >"$work/gateway.log" 2>&1) &
gateway_pid=$!
health=""
for _ in $(seq 1 200); do
  health=$(node -e "fetch('http://127.0.0.1:$port/health').then(r=>r.text()).then(t=>console.log(t),()=>{})" 2>/dev/null || true)
  case "$health" in *BLE_NOBLE_MISSING*) break ;; esac
  sleep 0.2
done
case "$health" in
  *BLE_NOBLE_MISSING*) ;;
  *) cat "$work/gateway.log" >&2; echo "FAIL: /health does not report BLE_NOBLE_MISSING: $health" >&2; exit 1 ;;
esac
grep -q 'BLE_NOBLE_MISSING.*apt-get install build-essential' "$work/gateway.log" || {
  cat "$work/gateway.log" >&2
  echo "FAIL: the log does not say what to install" >&2
  exit 1
}
echo "OK: installed without a compiler; with BLE enabled /health and the log report BLE_NOBLE_MISSING and what to install"
