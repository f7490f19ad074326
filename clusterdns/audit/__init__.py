"""The auditor's tools: zone files and JSON dumps, diffs of dumps, explain, the AXFR client, and
the cluster state for one-shot commands.
"""
