"""The server: the plugins registered, server blocks and the query handler that routes among
them, what a Corefile runs, the process with its reload, and the workers.
"""
