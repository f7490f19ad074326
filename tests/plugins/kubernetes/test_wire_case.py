"""Owner names on the wire as CoreDNS writes them: the resolver's own spelling (object labels
lower case, the zone as asked), whatever the case of the question's other labels.

CoreDNS's reply is its dns.Msg as built (plugin/backend_lookup.go SRV: the additional
record's owner is the SRV target, msg.Domain(serv.Key), the zone as asked); miekg/dns
compresses names case-sensitively (compressionMap keys as written), so no owner is written
as a pointer into a question that spells it otherwise."""

from __future__ import annotations

import pytest
from dnslib import EDNS0, QTYPE, DNSRecord

from harness.paths import TEST_DATA
from harness.resolvers import handler_for, make_resolver, state_from_file


@pytest.fixture(scope="module")
def resolver():
    return make_resolver(state_from_file(TEST_DATA / "coredns_cluster.yaml"), ttl=5)


@pytest.mark.parametrize("over_tcp", [False, True])
@pytest.mark.parametrize("qname", [
    "_HtTp._TcP.sVc1.TeStNs.SvC.cLuStEr.LoCaL.",
    "_http._tcp.HDLS1.testns.svc.cluster.local.",
])
def test_srv_additional_owners_on_the_wire_are_the_resolvers_spelling(resolver, qname, over_tcp):
    expected = resolver.resolve(qname, QTYPE.SRV)
    assert expected.additional
    query = DNSRecord.question(qname, "SRV")
    query.add_ar(EDNS0(udp_len=1232))  # room for the additional section over UDP too
    data = handler_for(resolver).handle(bytes(query.pack()), over_tcp)
    assert isinstance(data, bytes)
    reply = DNSRecord.parse(data)
    owners = [str(rr.rname) for rr in reply.ar if rr.rtype != QTYPE.OPT]
    assert owners == [str(rr.rname) for rr in expected.additional]
