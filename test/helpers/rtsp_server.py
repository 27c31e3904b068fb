"""A real RTSP server for tests: Debian's gst-rtsp-server, one mount, H.264 over RTP.

Run with Debian's /usr/bin/python3 (it has `gi`). Prints `READY <port>` on stdout once the
server is attached, so the test helper knows when to connect. Sources:
  --source test            videotestsrc (a test pattern: no person in it)
  --source file:PATH       a video or still image file, decoded and looped forever
Options: --port, --width, --height, --fps, --mount, --user/--password (basic auth),
--payload gst (a payload only GStreamer decodes).
"""

import argparse
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


PAYLOAD = "h264"


def encoder(width: int, height: int, fps: int) -> str:
    caps = f"video/x-raw,width={width},height={height},framerate={fps}/1"
    # key-int-max = fps: a reconnecting reader waits at most one second for a key frame.
    x264 = f"x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps}"
    # 'gst' wraps the stream in GStreamer's own RTP payload, which no other client decodes:
    # the way to show a camera whose codec the reader cannot handle.
    pay = "rtpgstpay name=pay0 pt=96" if PAYLOAD == "gst" else "rtph264pay name=pay0 pt=96 config-interval=1"
    return f"videoconvert ! videoscale ! videorate ! {caps} ! {x264} ! {pay}"


def launch_line(source: str, width: int, height: int, fps: int) -> str:
    if source == "test":
        return f"( videotestsrc is-live=true pattern=smpte ! {encoder(width, height, fps)} )"
    if source.startswith("file:"):
        path = source[len("file:"):]
        # A still image becomes a live stream through imagefreeze; a video plays at its rate.
        if path.lower().endswith((".jpg", ".jpeg", ".png")):
            dec = "jpegdec" if path.lower().endswith(("jpg", "jpeg")) else "pngdec"
            return (
                f"( filesrc location={path} ! {dec} ! imagefreeze is-live=true ! "
                f"{encoder(width, height, fps)} )"
            )
        return f"( filesrc location={path} ! decodebin ! {encoder(width, height, fps)} )"
    raise SystemExit(f"unknown --source {source!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--mount", default="/cam")
    ap.add_argument("--source", default="test")
    ap.add_argument("--width", type=int, default=320)
    ap.add_argument("--height", type=int, default=240)
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--user")
    ap.add_argument("--password")
    ap.add_argument("--payload", choices=["h264", "gst"], default="h264")
    args = ap.parse_args()
    global PAYLOAD
    PAYLOAD = args.payload

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_line(args.source, args.width, args.height, args.fps))
    factory.set_shared(True)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password or ""), token)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role_from_structure(
            Gst.Structure.new_from_string("user, media.factory.access=(boolean)true, media.factory.construct=(boolean)true")
        )
        factory.set_permissions(perms)
    server.get_mount_points().add_factory(args.mount, factory)
    if server.attach(None) == 0:
        print(f"FAILED to bind 127.0.0.1:{args.port}", file=sys.stderr, flush=True)
        sys.exit(2)
    loop = GLib.MainLoop()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGTERM, loop.quit)
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGINT, loop.quit)
    print(f"READY {args.port}", flush=True)
    loop.run()


if __name__ == "__main__":
    main()
