"""The server's HTTP side (health, ready, prometheus) as the tests and kubelet read it."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from harness.server import ServerProcess
from harness.wait import wait_for

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def address(server: ServerProcess, path: str) -> str:
    """The URL of `path` (/health, /ready, /metrics) as the server logged where it serves it."""
    pattern = re.compile(rf"serving {re.escape(path)} on (\S+) port (\d+)")
    found = wait_for(
        lambda: next((m for line in server.log if (m := pattern.search(line))), None),
        what=f"the server to serve {path}",
    )
    return f"http://{found.group(1)}:{found.group(2)}{path}"


def get(url: str, timeout: float = 10) -> tuple[int, str]:
    """(status, body) of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def metrics(server: ServerProcess) -> Samples:
    """Every sample of /metrics by (name, labels)."""
    _, text = get(address(server, "/metrics"))
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, metric: str, /, **labels: str) -> float:
    """The sum of the samples of `metric` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == metric and wanted <= ls)
