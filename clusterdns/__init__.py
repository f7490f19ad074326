"""clusterdns: a CoreDNS-compatible Kubernetes cluster DNS server."""

from clusterdns import compiled

__version__ = "0.1.0"
compiled.choose()  # (before any module of the hot path is imported)
