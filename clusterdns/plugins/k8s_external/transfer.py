"""The external zones as the `transfer` plugin reads them (CoreDNS's k8s_external transfer.go):
SOA; NS and the nameserver's addresses; then every name the plugin answers records at (each
service with external IPs and its named ports; with `headless`, each headless service, its
named ports and endpoints), with the A, AAAA (or CNAME) and SRV records a query gets (a
port's name its SRV records only, as CoreDNS lists it; a load balancer's host name its CNAME
alone: CoreDNS's transfer has no server to ask it of); SOA. No notifies, as in CoreDNS.
"""

from __future__ import annotations

from collections.abc import Iterator

from dnslib import QTYPE

from clusterdns.dns.names import join
from clusterdns.dns.zone import Record, record_from_rr
from clusterdns.plugins.k8s_external.external import NAMESERVER, K8sExternal


class ExternalZones:
    """A Transferer (plugins/transfer.py) of one k8s_external's zones."""

    def __init__(self, plugin: K8sExternal) -> None:
        self.plugin = plugin

    @property
    def zones(self) -> tuple[str, ...]:
        return self.plugin.zones

    @property
    def serial(self) -> int:
        return self.plugin.source.serial

    def soa(self, zone: str) -> Record:
        return record_from_rr(self.plugin.soa(zone))

    def records(self, zone: str) -> Iterator[Record]:
        plugin, source = self.plugin, self.plugin.source
        soa = self.soa(zone)
        yield soa
        yield record_from_rr(plugin.nameserver(zone))
        for rr in plugin.glue(join(f"{NAMESERVER}.{plugin.config.apex}", zone)):
            yield record_from_rr(rr)
        for name in source.names(zone):
            targets, _rcode = source.external(name, zone)
            records = plugin.services(name, targets)[0]
            if not name.startswith("_"):  # a port's name: its SRV records alone, as CoreDNS
                records = [
                    *plugin.addresses(name, targets, QTYPE.A),
                    *plugin.addresses(name, targets, QTYPE.AAAA),  # (a CNAME again: once)
                    *records,
                ]
            yield from dict.fromkeys(record_from_rr(rr) for rr in records)
        yield soa
