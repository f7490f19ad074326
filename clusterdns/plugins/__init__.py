"""One folder or module per CoreDNS plugin: its Corefile setup, its behaviour, its metrics.
Plugins never import each other; the server composes them.
"""
