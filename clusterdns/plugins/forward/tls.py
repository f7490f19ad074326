"""The TLS client side of `forward`'s tls:// upstreams, as CoreDNS's plugin/pkg/tls makes it
from the `tls` option's files:

- `tls`: no client certificate; the server's is verified with the system's CAs;
- `tls CA`: no client certificate; verified with the CAs in the file CA;
- `tls CERT KEY`: the client certificate and key; verified with the system's CAs;
- `tls CERT KEY CA`: the client certificate and key; verified with the CAs in CA.

The server's certificate is always verified, and must name the server (`tls_servername`, or
the upstream's IP address in the certificate's IP addresses); TLS 1.2 at least. Relative
paths are the working directory's, as CoreDNS's without `root`.
"""

from __future__ import annotations

import re
import ssl

from clusterdns.errors import ConfigError

_SOURCE_POSITION = re.compile(r" \(_ssl\.c:\d+\)$")  # what ssl appends to its messages


class TlsFilesError(ConfigError):
    """The `tls` files cannot be read or used: the message says which and why."""


def client_context(files: tuple[str, ...]) -> ssl.SSLContext:
    """The client context for `tls` with 0 to 3 files (CERT KEY CA, or just CA)."""
    ca = files[0] if len(files) == 1 else files[2] if len(files) == 3 else None
    try:
        context = ssl.create_default_context(cafile=ca)
    except OSError as exc:  # ssl.SSLError is one
        raise TlsFilesError(f"could not read root certs from {ca}: {reason(exc)}") from None
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if len(files) >= 2:
        cert, key = files[:2]
        try:
            context.load_cert_chain(cert, key)
        except OSError as exc:  # ssl.SSLError is one
            message = f"could not load TLS cert {cert} with key {key}: {reason(exc)}"
            raise TlsFilesError(message) from None
    return context


def reason(exc: OSError) -> str:
    """An OSError's (or ssl.SSLError's) message, without the C source position."""
    return _SOURCE_POSITION.sub("", exc.strerror or str(exc))
