"""The DNS protocol and nothing else: names, messages in and out, packets read as bytes, zones
as records. Imports no other layer but errors.
"""
