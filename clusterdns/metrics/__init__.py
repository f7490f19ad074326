"""Prometheus metrics under CoreDNS's names and labels (SPEC §11), so its dashboards work
unchanged: the registry, and the families every query is counted in.
"""
