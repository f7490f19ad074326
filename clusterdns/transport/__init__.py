"""Moving bytes: UDP (batched with recvmmsg/sendmmsg), TCP and the small HTTP listener. Takes a
handler; knows no plugin.
"""
