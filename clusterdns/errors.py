"""One tree of errors: everything clusterdns raises on purpose is a `ClusterDNSError`.

Each branch says whose fault it is and carries the exit status a command ends with, so the
CLI maps errors to statuses in one place (`exit_code`), as dnspython's one `DNSException`
tree lets a caller catch by meaning rather than by module.
"""

from __future__ import annotations


class ClusterDNSError(Exception):
    """Base of every error clusterdns raises on purpose; the message says what and where."""

    exit_code = 2


class ConfigError(ClusterDNSError):
    """What the operator wrote cannot be run: a Corefile (with file:line), an option, an
    upstream list."""


class SourceError(ClusterDNSError):
    """The cluster could not be read: a snapshot file, a kubeconfig, the API server."""


class ServeError(ClusterDNSError):
    """The server could not do its work: a socket, an upstream, a forwarding loop."""


class LoopDetected(ServeError):
    """Our forwarding leads back to us (CoreDNS's `loop` plugin exits 1)."""

    exit_code = 1


class AuditError(ClusterDNSError):
    """A dump, diff or transfer could not be read or made."""


class ProtocolError(ClusterDNSError):
    """A DNS message that does not follow the protocol (answered with FORMERR or dropped)."""
