"""Who may use the page: the address served on, the ``Host`` a request names, the page it comes
from (``Origin``, ``Sec-Fetch-Site``) and its token.

DNS rebinding makes a name of another site point at this machine, so that a page of that site
can read this one: ``check_host`` refuses a ``Host`` that is not this server's name (421). A
request a page of another origin sends is refused (403, ``check_origin``). With a token, every
request must carry it (``authorized``).
"""

from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Sequence

from fastsam_track.errors import UsageError

__all__ = ["authorized", "check_host", "check_origin", "is_loopback", "parse_address"]


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` to (host, port); an empty host is 127.0.0.1, port 0 picks a free port.

    Example:
        >>> parse_address(":8080"), parse_address("0.0.0.0:80")
        (('127.0.0.1', 8080), ('0.0.0.0', 80))
    """
    host, colon, port = text.rpartition(":")
    if not colon or not re.fullmatch(r"\d{1,5}", port, re.ASCII) or int(port) > 65535:
        raise UsageError(f"--serve {text!r}: expected HOST:PORT with a port from 0 to 65535, e.g. 127.0.0.1:8080")
    if not re.fullmatch(r"[A-Za-z0-9.-]*", host):
        raise UsageError(f"--serve {text!r}: the host must be an IPv4 address or a host name, e.g. 127.0.0.1")
    return host or "127.0.0.1", int(port)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine only: ``localhost``, 127.0.0.0/8 or ::1.

    Example:
        >>> is_loopback("127.0.0.2"), is_loopback("localhost"), is_loopback("0.0.0.0"), is_loopback("cam.lan")
        (True, True, False, False)
    """
    address = _ip(host)
    return host.lower().rstrip(".") == "localhost" if address is None else address.is_loopback


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address ``name`` spells (``[::1]`` too), or None for a host name."""
    try:
        return ipaddress.ip_address(name.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def check_host(host_header: str | None, bind_host: str, local_address: str, hostname: str = "") -> str | None:
    """Why a request's ``Host`` header does not name this server; None when it does.

    Accepted:

    - an address (``127.0.0.1``, ``[::1]``) on loopback binds and the address the request
      arrived at; on a ``0.0.0.0`` bind, any address (only a typed address sends one, and every
      address that reaches the machine is its own, port forwarding included);
    - ``localhost`` on loopback and ``0.0.0.0`` binds;
    - the host name bound (``--serve NAME:PORT``), and on a ``0.0.0.0`` bind the machine's own
      name (``hostname``);
    - no ``Host`` at all (HTTP/1.0 clients; every browser sends one).

    The port is not compared: port forwarding changes it, and a rebinding page cannot choose
    the name, which is what is checked.

    Args:
        host_header: the request's ``Host`` (None when absent).
        bind_host: the address or name the server listens on ("" or 0.0.0.0: every address).
        local_address: the address of this machine the connection arrived at.
        hostname: this machine's name (``socket.gethostname()``).

    Example:
        >>> check_host("127.0.0.1:8080", "127.0.0.1", "127.0.0.1") is None
        True
        >>> check_host("evil.example:8080", "127.0.0.1", "127.0.0.1")
        "the Host 'evil.example:8080' is not this server's name"
    """
    if host_header is None:
        return None
    match = re.fullmatch(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::\d{1,5})?", host_header.strip(), re.ASCII)
    if match is None:
        return f"the Host {host_header[:80]!r} is not a host name or an address with a port"
    name = match.group(1).lower().rstrip(".")
    wildcard = bind_host in ("", "0.0.0.0")
    loopback = wildcard or is_loopback(bind_host)
    address = _ip(name)
    if address is not None:
        here = _ip(local_address)
        if wildcard or (loopback and address.is_loopback) or address == here or address == _ip(bind_host):
            return None
    elif name == bind_host.lower().rstrip(".") or (loopback and name == "localhost"):
        return None
    elif wildcard and hostname and name in (hostname.lower(), hostname.lower().split(".")[0]):
        return None
    return f"the Host {host_header[:80]!r} is not this server's name"


def check_origin(host: str | None, origin: str | None, fetch_site: str | None) -> str | None:
    """Why a request comes from a page of another site (``Origin`` other than this server's, or
    ``Sec-Fetch-Site`` other than ``same-origin`` or ``none``); None when it does not.

    Example:
        >>> check_origin("127.0.0.1:8080", "http://127.0.0.1:8080", "same-origin") is None
        True
        >>> check_origin("127.0.0.1:8080", None, "cross-site")
        "requests from another site's page are refused (Sec-Fetch-Site 'cross-site')"
    """
    if origin is not None and (host is None or origin.lower() != f"http://{host.strip().lower()}"):
        return f"requests from another site's page are refused (Origin {origin[:80]!r})"
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return f"requests from another site's page are refused (Sec-Fetch-Site {fetch_site[:20]!r})"
    return None


def authorized(token: str | None, given: Sequence[str], authorization: str | None) -> bool:
    """Whether a request carries ``token`` exactly once (``?token=`` values ``given``, or an
    ``Authorization`` header whose scheme is ``Bearer``, in any case as RFC 7235 says); always
    true without a token.

    Example:
        >>> authorized("s3cret", [], "bearer s3cret"), authorized("s3cret", ["s3cret"], "Bearer s3cret")
        (True, False)
    """
    if token is None:
        return True
    values = list(given)
    if authorization is not None:
        scheme, _, credentials = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            values.append(credentials.strip())
    return len(values) == 1 and hmac.compare_digest(values[0].encode(), token.encode())
