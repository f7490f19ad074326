"""`whoami` over real sockets, as its README shows: the asker's address and port in the
additional section, for any name, over UDP and TCP."""

from __future__ import annotations

import socket

import dns.message
import dns.query
import dns.rdatatype
import pytest

from harness.server import start_server, stop_server


@pytest.mark.parametrize("tcp", [False, True], ids=["udp", "tcp"])
def test_whoami_tells_the_asker_its_address_and_port(tmp_path, tcp):
    corefile = tmp_path / "Corefile"
    corefile.write_text(".:53 {\n    whoami\n}\n")
    server = start_server(["--conf", str(corefile)])
    try:
        message = dns.message.make_query("example.org.", "A")
        kind = socket.SOCK_STREAM if tcp else socket.SOCK_DGRAM
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if tcp:
                sock.connect((server.host, server.port))
                reply = dns.query.tcp(message, server.host, port=server.port, timeout=5, sock=sock)
            else:
                reply = dns.query.udp(message, server.host, port=server.port, timeout=5, sock=sock)
        assert not reply.answer
        address = reply.find_rrset(reply.additional, dns.name.from_text("example.org."),
                                   dns.rdataclass.IN, dns.rdatatype.A)
        assert [rd.address for rd in address] == ["127.0.0.1"] and address.ttl == 0
        proto = "tcp" if tcp else "udp"
        (srv_set,) = [r for r in reply.additional if r.rdtype == dns.rdatatype.SRV]
        assert srv_set.name.to_text() == f"_{proto}.example.org."
        (srv,) = srv_set
        assert srv.port == port and srv.target.to_text() == "."
    finally:
        stop_server(server)
