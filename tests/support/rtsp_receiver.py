"""An RTSP receiver for tests of ``--rtsp-out``: FFmpeg's listen mode (through PyAV) takes one
publish. It prints LISTENING just before it listens, CONNECTED, then
``GOT <frames> <width>x<height>`` when the stream ends or after ``frames`` frames.

A process of its own: PyAV's listening ``av.open`` does not let other Python threads run.

    python tests/support/rtsp_receiver.py rtsp://127.0.0.1:PORT/live 20
"""

import sys

import av


def main() -> None:
    url, wanted = sys.argv[1], int(sys.argv[2])
    options = {"rtsp_flags": "listen", "listen_timeout": "30", "rtsp_transport": "tcp"}
    count, size = 0, "0x0"
    print("LISTENING", flush=True)  # av is imported: the socket is bound next
    with av.open(url, options=options, timeout=30) as container:
        print("CONNECTED", flush=True)
        try:
            for frame in container.decode(video=0):
                count, size = count + 1, f"{frame.width}x{frame.height}"
                if count >= wanted:
                    break
        except av.error.FFmpegError:  # the publisher went away: report what arrived
            pass
    print(f"GOT {count} {size}", flush=True)


if __name__ == "__main__":
    main()
