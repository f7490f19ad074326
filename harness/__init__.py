"""The loopback harness that tests/ and bench/ share: the real server started on a free
loopback port, a fake Kubernetes API server, a loopback upstream to forward to, snapshot
builders, and one way to query a server and to wait for a condition.

One module per concern: paths, wait, server, query, dig, http, fakeapi, upstream, snapshots,
resolvers, dumps, wire. Not shipped: pyproject's package discovery includes clusterdns* only;
pytest (rootdir) and `python -m bench.…` from the repository root import it from here.
"""
