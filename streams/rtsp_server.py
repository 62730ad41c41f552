#!/usr/bin/python3
"""A small RTSP server that serves Annex-B H.264 files in an endless loop (tests and demos).

Runs under the SYSTEM interpreter (python3-gi, gir1.2-gst-rtsp-server-1.0, GStreamer base/good/bad
plugins), not the project venv; `vigil.streams.rtsp.RtspServer` drives it from the venv side.

    /usr/bin/python3 streams/rtsp_server.py --port 0 --mount cam1=/path/a.h264 [--auth USER:PASS]

Serves rtsp://127.0.0.1:PORT/NAME for every `--mount NAME=PATH`. Prints exactly one line
`READY <port>` to stdout once it listens (port 0 picks a free one); exit status 3 means the port
could not be bound. Exits cleanly on SIGTERM/SIGINT/SIGHUP and when its parent process dies.
`--check` only verifies that GStreamer and every needed element load (prints OK or the reason).

Pipeline per mount, without re-encoding, so many cameras stay cheap:

    multifilesrc loop=true ! h264parse ! rtph264pay config-interval=-1

Timing: a raw Annex-B file carries no timestamps. h264parse interpolates a DTS for every access
unit from the frame rate in the SPS VUI (libx264 writes it), continuing across loop iterations,
but leaves PTS empty; buffers without PTS are pushed by the RTSP sinks as fast as they arrive.
A pad probe after h264parse copies DTS into the missing PTS (equal for streams without B-frames),
so the sinks pace the stream at its real frame rate. config-interval=-1 repeats SPS/PPS with
every IDR, so a client joining mid-stream decodes from the next keyframe.

The factory is shared: one pipeline per mount however many clients watch it.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
from pathlib import Path

ELEMENTS = ("multifilesrc", "h264parse", "rtph264pay")
LAUNCH = ("( multifilesrc location=\"{path}\" loop=true "
          "caps=\"video/x-h264,stream-format=byte-stream\" ! h264parse name=parse "
          "! rtph264pay name=pay0 pt=96 config-interval=-1 )")


def load_gi():
    """Import GStreamer through gi; raise ImportError/ValueError with the reason when unusable."""
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
    Gst.init(None)
    missing = [e for e in ELEMENTS if Gst.ElementFactory.find(e) is None]
    if missing:
        raise ImportError(f"GStreamer elements missing: {', '.join(missing)}")
    return GLib, Gst, GstRtspServer


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one")
    p.add_argument("--mount", action="append", default=[], metavar="NAME=PATH",
                   help="serve the Annex-B H.264 file PATH at /NAME (repeatable)")
    p.add_argument("--auth", metavar="USER:PASS", help="require RTSP basic authentication")
    p.add_argument("--check", action="store_true", help="only check that GStreamer is usable")
    a = p.parse_args(argv)
    mounts = {}
    for m in a.mount:
        name, sep, path = m.partition("=")
        name = name.strip("/")
        if not sep or not name or not path:
            p.error(f"--mount wants NAME=PATH, got {m!r}")
        if not Path(path).is_file():
            p.error(f"--mount {name}: no such file {path}")
        mounts[name] = str(Path(path).resolve())
    if not a.check and not mounts:
        p.error("give at least one --mount NAME=PATH")
    if a.auth is not None and ":" not in a.auth:
        p.error("--auth wants USER:PASS")
    a.mounts = mounts
    return a


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        GLib, Gst, GstRtspServer = load_gi()
    except (ImportError, ValueError) as e:
        print(f"GStreamer RTSP server unavailable: {e}", file=sys.stderr if not args.check else sys.stdout)
        return 2
    if args.check:
        print("OK", flush=True)
        return 0

    def copy_dts_to_pts(_pad, info):
        buf = info.get_buffer()
        if buf is not None and buf.pts == Gst.CLOCK_TIME_NONE:
            buf.pts = buf.dts
        return Gst.PadProbeReturn.OK

    def on_media_configure(_factory, media):
        parse = media.get_element().get_by_name("parse")
        parse.get_static_pad("src").add_probe(Gst.PadProbeType.BUFFER, copy_dts_to_pts)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    if args.auth is not None:
        user, _, password = args.auth.partition(":")
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string("media.factory.role", "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
    mounts = server.get_mount_points()
    for name, path in args.mounts.items():
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(LAUNCH.format(path=path.replace('"', '\\"')))
        factory.set_shared(True)
        factory.connect("media-configure", on_media_configure)
        if args.auth is not None:
            factory.add_role_from_structure(Gst.Structure.new_from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"))
        mounts.add_factory(f"/{name}", factory)

    if server.attach(None) == 0:  # GStreamer logs the socket error itself
        print(f"cannot listen on 127.0.0.1:{args.port} (port in use?)", file=sys.stderr, flush=True)
        return 3

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, lambda *_: (loop.quit(), False)[1])
    parent = os.getppid()

    def parent_alive():  # never outlive the process that started us
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.timeout_add(500, parent_alive)
    print(f"READY {server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
