"""CoreDNS's `kubernetes` plugin: the cluster's objects, their state, the records and index
built from them, the resolver, the wire answers, and the sources (informer, snapshot).
"""
