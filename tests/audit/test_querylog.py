"""Reading the query lines of the log plugin's default format (audit/querylog.py)."""

from __future__ import annotations

import pytest

from clusterdns.audit.querylog import Query, parse_line


@pytest.mark.parametrize(
    ("line", "query"),
    [
        # CoreDNS's, as its README shows it
        (
            '[INFO] [::1]:50759 - 29008 "A IN example.org. udp 41 false 4096" NOERROR qr,rd,ra,ad 68 0.037990251s',
            Query("::1", "A", "example.org.", "NOERROR"),
        ),
        # `kubectl logs --timestamps`; a name in capitals; an IPv6 remote written long
        (
            '2026-12-05T10:00:00.123456789Z [INFO] [FD00:0:0::21]:5353 - 7 "AAAA IN Api.Example.COM.shop.svc.cluster.local. udp 62 false 512" NXDOMAIN qr,aa,rd 155 0.000123s',
            Query("fd00::21", "AAAA", "api.example.com.shop.svc.cluster.local.", "NXDOMAIN"),
        ),
        # {combined}: the opcode after it; a reply with no flag set; a link-local zone
        (
            '[INFO] [fe80::1%eth0]:53 - 1 "TYPE65 IN x. tcp 30 true 65535" SERVFAIL  30 1e-05s "QUERY"',
            Query("fe80::1", "TYPE65", "x.", "SERVFAIL"),
        ),
        # no prefix at all; a character escaped in the name
        (
            '10.244.0.5:45678 - 12345 "TXT CH a\\ b. udp 62 false 512" REFUSED qr 155 0.1s',
            Query("10.244.0.5", "TXT", "a\\ b.", "REFUSED"),
        ),
    ],
)
def test_query_lines(line, query):
    assert parse_line(line) == query


@pytest.mark.parametrize(
    "line",
    [
        "",
        "[INFO] plugin/reload: Running configuration SHA512 = 3e5c",
        "[ERROR] plugin/errors: 2 example.org. A: read udp 10.244.0.2:3945->8.8.8.8:53: i/o timeout",
        '[INFO] 10.244.0.5:45678 - 12345 "A IN example.org. udp 62 false 512"',  # cut short
        '[INFO] 999.1.1.1:45678 - 1 "A IN example.org. udp 62 false 512" NOERROR qr 9 0.1s',
    ],
)
def test_other_lines(line):
    assert parse_line(line) is None
