"""A live RTSP camera for tests: GStreamer's RTSP server on 127.0.0.1.

Run it with Debian's own Python (the GObject bindings are not in the virtual environment)::

    /usr/bin/python3 tests/support/rtsp_camera.py [--port N] [--file clip.mp4] [--user U --password P]

It serves a moving test pattern (or an H.264 MP4 file, looped) at ``/cam``, prints
``READY rtsp://127.0.0.1:PORT/cam`` once it listens, and runs until killed. ``--port 0`` (the
default) takes a free port; give the printed port back to come up again on the same URL.
"""

from __future__ import annotations

import argparse

MOUNT = "/cam"


def pattern_pipeline(width: int, height: int, fps: int) -> str:
    """A launch line for a live 'ball' test pattern in H.264, a key frame every half second."""
    return (
        f"( videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 "
        f"! videoconvert ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={max(1, fps // 2)} "
        "! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=1 )"
    )


def file_pipeline(path: str) -> str:
    """A launch line for an H.264 MP4 file; the factory's media is rebuilt (looped) on each connection."""
    return f"( filesrc location={path} ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: a free one)")
    parser.add_argument("--file", help="serve this H.264 MP4 instead of a test pattern")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--fps", type=int, default=25)
    parser.add_argument("--user", help="require basic authentication with this user name")
    parser.add_argument("--password", default="", help="the password for --user")
    return parser.parse_args()


def main() -> None:
    """Start the server and run the GLib main loop until the process is killed."""
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    args = parse_args()
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(file_pipeline(args.file) if args.file else pattern_pipeline(args.width, args.height, args.fps))
    factory.set_shared(not args.file)
    if args.user:
        require_basic_auth(server, factory, args.user, args.password)
    server.get_mount_points().add_factory(MOUNT, factory)
    server.attach(None)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}{MOUNT}", flush=True)
    GLib.MainLoop().run()


def require_basic_auth(server, factory, user: str, password: str) -> None:  # type: ignore[no-untyped-def]
    """Only ``user``/``password`` (HTTP basic) may open the mount."""
    from gi.repository import Gst, GstRtspServer

    auth = GstRtspServer.RTSPAuth()
    token = GstRtspServer.RTSPToken()
    token.set_string("media.factory.role", "viewer")
    auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
    server.set_auth(auth)
    permissions = "media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
    role, _ = Gst.Structure.from_string(f"viewer, {permissions}")
    factory.add_role_from_structure(role)


if __name__ == "__main__":
    main()
