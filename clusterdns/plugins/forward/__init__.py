"""CoreDNS's `forward` plugin: upstream choice, health checks, fail-over, and one upstream's
UDP, TCP and TLS exchanges.
"""
