"""CoreDNS's `cache` plugin: forwarded answers kept as bytes, by TTL, with prefetch and
serve_stale.
"""
