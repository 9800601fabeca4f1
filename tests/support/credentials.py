"""The credentials tests put in URLs, and the check that no message of the suite ever shows them.

A test that gives a URL with a password uses ``PASSWORD`` (``url_with_credentials``);
``tests/conftest.py`` fails any test whose captured output (stdout, stderr, log) holds it.
"""

from __future__ import annotations

__all__ = ["PASSWORD", "USER", "leaked", "url_with_credentials"]

USER = "tester"
PASSWORD = "pw-never-printed-7c1"


def url_with_credentials(url: str) -> str:
    """``url`` with ``USER:PASSWORD@`` before its host.

    Example:
        >>> url_with_credentials("rtsp://127.0.0.1:8554/cam")
        'rtsp://tester:pw-never-printed-7c1@127.0.0.1:8554/cam'
    """
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{PASSWORD}@{rest}"


def leaked(sections: list[tuple[str, str]]) -> list[str]:
    """The names of the captured sections (``TestReport.sections``) that show ``PASSWORD``."""
    return [name for name, text in sections if PASSWORD in text]
