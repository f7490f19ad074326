"""The Corefile: its syntax, the checks every directive shares, addresses, server blocks, and
the plugin registry (directive → setup, in CoreDNS's plugin order). Knows no plugin.
"""
