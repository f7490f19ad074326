"""The command line as a shell user meets it: help, exit codes, error messages."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from harness.paths import REPO


def run(*args: str, timeout: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clusterdns", *args],
        capture_output=True, text=True, timeout=timeout, cwd=REPO,
    )


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ([], ["serve", "dump"]),
        (["serve"], ["--conf", "--snapshot", "--listen", "127.0.0.1:5353", "web-0.web.demo"]),
        (["dump"], ["--snapshot", "--zone", "--output"]),
        (["searchpath"], ["LOG", "--snapshot", "--search", "--json", "--top", "ndots:5",
                          "autopath @kubernetes", "dnsConfig.options ndots:N", "trailing dot"]),
    ],
)
def test_help_explains_every_command(command, mentions):
    result = run(*command, "--help")
    assert result.returncode == 0
    for word in mentions:
        assert word in result.stdout, word


def test_version():
    result = run("--version")
    assert result.returncode == 0 and result.stdout.startswith("clusterdns ")


def test_bad_corefile_names_file_and_line(tmp_path):
    conf = tmp_path / "Corefile"
    conf.write_text(".:53 {\n    errors\n    kubernetes cluster.local {\n        podz insecure\n    }\n}\n")
    result = run("serve", "--conf", str(conf), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert f"{conf}:4:" in result.stderr and "podz" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_snapshot_is_refused_whole(tmp_path, test_corefile):
    snapshot = tmp_path / "dump.yaml"
    snapshot.write_text("kind: List\nitems:\n- kind: Service\n  metadata: {namespace: a}\n")
    result = run("serve", "--conf", str(test_corefile), "--snapshot", str(snapshot), "--listen", "127.0.0.1:0")
    assert result.returncode == 2
    assert f"{snapshot}: item 0 (Service a/<no name>): metadata.name is missing" in result.stderr


def test_port_in_use_is_a_clear_error(test_corefile):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        result = run("serve", "--conf", str(test_corefile), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2
    assert "cannot listen" in result.stderr and "Traceback" not in result.stderr


def test_bad_listen_address(test_corefile):
    result = run("serve", "--conf", str(test_corefile), "--listen", "127.0.0.1:99999")
    assert result.returncode == 2 and "bad port" in result.stderr


def test_dump_parses_as_a_zone(test_corefile):
    import dns.zone

    result = run("dump", "--conf", str(test_corefile))
    assert result.returncode == 0, result.stderr
    zone = dns.zone.from_text(result.stdout, origin="cluster.local.", relativize=False)
    names = {name.to_text() for name in zone.nodes}
    assert "web-0.web.demo.svc.cluster.local." in names
    assert "nginx.demo.svc.cluster.local." in names
