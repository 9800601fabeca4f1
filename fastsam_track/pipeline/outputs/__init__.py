"""Where annotated frames go.

The renderer, video files and RTSP (``sinks``), the window, the web page, and the
file-safety rules every output follows (``files``).
"""
