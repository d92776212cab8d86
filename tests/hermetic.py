"""Hermetic tests: no provider key from the developer's environment, no connection beyond loopback.

``tests/conftest.py`` installs both guards for the whole run:

- ``provider_variables`` names what to clear: every variable starting with one of ``CLEARED_PREFIXES`` (this
  project's ``SEEDREAM_*`` and the providers' own ``ARK_*``, ``VOLC_*``, ``CHANJING_*``, ``DISCORD_*``), except
  the test suite's own switches, ``SEEDREAM_TEST_*``.
- ``LoopbackGuard`` is an audit hook (``sys.addaudithook``). CPython raises the audit events ``socket.connect``,
  ``socket.sendto``, ``socket.getaddrinfo`` … inside its C socket functions *before* the system call, so a
  refused call never reaches the operating system: no SYN, no datagram, no DNS query. Patching
  ``socket.socket.connect`` (what ``pytest-socket`` does) would let ``getaddrinfo`` query DNS first and miss
  datagrams. Loopback addresses, ``localhost`` and non-IP sockets (``AF_UNIX``, ``socketpair``) pass.

A refused call raises ``NonLoopbackNetworkError`` (not an ``OSError``, so no retry loop takes it for a network
fault) and is remembered, so a test that swallowed the error still fails at teardown.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable, Iterable
from typing import Any

CLEARED_PREFIXES = ("SEEDREAM_", "ARK_", "VOLC_", "CHANJING_", "DISCORD_")
KEPT_PREFIXES = ("SEEDREAM_TEST_",)
LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost", "ip6-loopback"})


def provider_variables(names: Iterable[str]) -> list[str]:
    """The names a test must not see: keys, base URLs and every other setting of this project."""
    return sorted(n for n in names if n.startswith(CLEARED_PREFIXES) and not n.startswith(KEPT_PREFIXES))


class NonLoopbackNetworkError(RuntimeError):
    """A test tried to reach something other than loopback."""


def is_loopback(host: object) -> bool:
    """``localhost`` or a loopback IP literal (``127.0.0.0/8``, ``::1``, ``::ffff:127.x``)."""
    if not isinstance(host, str | bytes):
        return False
    host = _text(host)
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a DNS name: resolving it would already send a query
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def _text(host: object) -> str:
    return host.decode("ascii", "replace") if isinstance(host, bytes) else str(host)


def _is_local_lookup(host: object) -> bool:
    """Resolving no host (a server's bind), ``localhost`` or an IP literal sends no query; the connect that
    follows is checked on its own."""
    if host in (None, "", b"") or is_loopback(host):
        return True
    try:
        ipaddress.ip_address(_text(host).split("%", 1)[0])
    except ValueError:
        return False  # a DNS name
    return True


def _socket_target(args: tuple[Any, ...]) -> str | None:
    """``(socket, address)`` events: the refused ``host:port``, or None when allowed."""
    sock, address = args[0], args[1]
    if address is None or getattr(sock, "family", None) not in (socket.AF_INET, socket.AF_INET6):
        return None  # AF_UNIX, socketpair, netlink …, or sendmsg on an already connected socket
    host, port = address[0], address[1]
    return None if is_loopback(host) else f"{_text(host)}:{port}"


def _lookup_target(args: tuple[Any, ...]) -> str | None:
    return None if _is_local_lookup(args[0]) else _text(args[0])


def _reverse_target(args: tuple[Any, ...]) -> str | None:
    address = args[0]
    host = address[0] if isinstance(address, tuple) else address
    return None if is_loopback(host) else _text(host)


# audit event -> (what is being done, the refused target or None)
_CHECKS: dict[str, tuple[str, Callable[[tuple[Any, ...]], str | None]]] = {
    "socket.connect": ("connect", _socket_target),
    "socket.sendto": ("send a datagram", _socket_target),
    "socket.sendmsg": ("send a message", _socket_target),
    "socket.getaddrinfo": ("resolve", _lookup_target),
    "socket.gethostbyname": ("resolve", _lookup_target),
    "socket.gethostbyaddr": ("reverse-resolve", _reverse_target),
    "socket.getnameinfo": ("reverse-resolve", _reverse_target),
}


class LoopbackGuard:
    """Refuses every socket operation that could leave the machine while active (see the module docstring)."""

    def __init__(self) -> None:
        self.active = False
        self._refused: list[str] = []
        self._hooked = False

    def activate(self) -> None:
        if not self._hooked:  # an audit hook cannot be removed; ``active`` switches it
            sys.addaudithook(self._audit)
            self._hooked = True
        self.active = True

    def deactivate(self) -> None:
        self.active = False

    def take_refused(self) -> list[str]:
        """What was refused since the last call, e.g. ``["connect to 10.0.0.1:443"]``; forgets it."""
        refused, self._refused = self._refused, []
        return refused

    def _audit(self, event: str, args: tuple[Any, ...]) -> None:
        check = _CHECKS.get(event)
        if check is None or not self.active:
            return
        action, find_target = check
        target = find_target(args)
        if target is None:
            return
        self._refused.append(f"{action} {target}")
        if event == "socket.connect":
            # ``socket.create_connection`` closes its socket only on ``OSError``; close it here so the refusal
            # is not followed by a ResourceWarning about a socket that never connected.
            args[0].close()
        raise NonLoopbackNetworkError(
            f"hermetic tests: refused to {action} {target!r}; tests may only reach loopback (127.0.0.1, ::1, "
            "localhost) or Unix sockets. Point the client at the emulator (core.emulator) on 127.0.0.1 or "
            "through httpx2.ASGITransport."
        )


GUARD = LoopbackGuard()
