#!/usr/bin/env bash
# Installs (or upgrades) mujo-gateway as a systemd service from a checkout of the repository.
#
#   sudo deploy/systemd/install.sh            # from the repository root, after `npm run build`
#
# What it does (docs/deploy.md, "Any Linux with systemd"):
#   - creates the system user `mujo`
#   - copies the build (dist/gateway, dist/config), package files, models/, recordings/demo and
#     config/ to /opt/mujo-gateway, then installs production dependencies there for this
#     machine's CPU (`npm ci --omit=dev`; bluetooth-hci-socket compiles: needs python3 make g++)
#   - links /opt/mujo-gateway/var to /var/lib/mujo-gateway (the unit's StateDirectory)
#   - writes /etc/mujo-gateway/gateway.yaml from config/gateway.example.yaml unless one exists
#   - installs and enables mujo-gateway.service (start it with: systemctl start mujo-gateway)
# Upgrades keep /etc/mujo-gateway and /var/lib/mujo-gateway.
set -euo pipefail

PREFIX=${PREFIX:-/opt/mujo-gateway}
CONF_DIR=${CONF_DIR:-/etc/mujo-gateway}
STATE_DIR=/var/lib/mujo-gateway
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}
SERVICE_USER=mujo

repo="$(cd "$(dirname "$0")/../.." && pwd)"
die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (sudo $0)"
command -v node >/dev/null || die "node not found: install Node.js 20 (Debian/Raspberry Pi OS: apt install nodejs npm, if it is 20 or newer)"
node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "Node.js $(node --version) is too old: 20 or newer is needed"
[ "$(command -v node)" = /usr/bin/node ] || echo "install.sh: note: node is $(command -v node); the unit runs /usr/bin/node (edit ExecStart= or link it)" >&2
[ -f "$repo/dist/gateway/main.js" ] || die "no build in $repo/dist: run 'npm ci && npm run build' first (any machine: dist/ is plain JavaScript)"
[ -f "$repo/models/default/manifest.json" ] || echo "install.sh: warning: $repo/models/default is missing; set model.path in $CONF_DIR/gateway.yaml" >&2

id -u "$SERVICE_USER" >/dev/null 2>&1 ||
  useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home --shell /usr/sbin/nologin "$SERVICE_USER"

# Stage next to the target, then swap, so a failed install leaves the running version alone.
staging="$PREFIX.new"
rm -rf "$staging"
mkdir -p "$staging/dist" "$staging/recordings" "$staging/docs"
cp -a "$repo/dist/gateway" "$repo/dist/config" "$staging/dist/"
cp -a "$repo/package.json" "$repo/package-lock.json" "$repo/.npmrc" "$staging/"
cp -a "$repo/models" "$repo/config" "$staging/"
cp -a "$repo/recordings/demo" "$staging/recordings/"
cp -a "$repo/docs/." "$staging/docs/"
(cd "$staging" && ONNXRUNTIME_NODE_INSTALL=skip npm ci --omit=dev --no-audit --no-fund)
# onnxruntime-node carries binaries for every OS and CPU (~290 MB): keep this machine's. A GPU
# build of the binding (Jetson, docs/deploy.md) is copied over linux/arm64 after this script.
arch="$(node -p process.arch)"
find "$staging/node_modules/onnxruntime-node/bin" -mindepth 3 -maxdepth 3 -type d \
  ! -path "*/linux/$arch" -exec rm -rf {} +
ln -sfn "$STATE_DIR" "$staging/var"
chown -R root:root "$staging"

if [ -d "$PREFIX" ]; then
  rm -rf "$PREFIX.old" && mv "$PREFIX" "$PREFIX.old"
fi
mv "$staging" "$PREFIX"
rm -rf "$PREFIX.old"

# The gateway saves runtime device changes into its config: the folder is writable by mujo.
install -d -o root -g "$SERVICE_USER" -m 2770 "$CONF_DIR"
if [ ! -f "$CONF_DIR/gateway.yaml" ]; then
  install -o root -g "$SERVICE_USER" -m 0660 "$repo/config/gateway.example.yaml" "$CONF_DIR/gateway.yaml"
  echo "install.sh: wrote $CONF_DIR/gateway.yaml (the demo); edit it, then: systemctl restart mujo-gateway"
fi
(cd "$PREFIX" && MUJO_CONFIG="$CONF_DIR/gateway.yaml" node dist/gateway/main.js --validate-config) ||
  echo "install.sh: warning: $CONF_DIR/gateway.yaml does not validate (see above)" >&2

install -m 0644 "$repo/deploy/systemd/mujo-gateway.service" "$UNIT_DIR/mujo-gateway.service"
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload
  systemctl enable mujo-gateway.service
  if systemctl is-active --quiet mujo-gateway.service; then
    systemctl restart mujo-gateway.service
    echo "install.sh: restarted mujo-gateway"
  else
    echo "install.sh: installed; start with: systemctl start mujo-gateway && journalctl -u mujo-gateway -f"
  fi
else
  echo "install.sh: systemd is not running here; unit copied to $UNIT_DIR"
fi
