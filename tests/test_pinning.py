"""Pinning services: a version pushed to an IPFS node, then pinned by CID on a service speaking the
IPFS Pinning Service API (pinning services, IPFS Cluster), its status polled, its pins listed.

The service is the IPFS project's own mock server (npm ``mock-ipfs-pinning-service``, started on
127.0.0.1 by the ``pinning_service`` fixture): it answers the API as specified and validates every
request against the spec, but it fetches and replicates nothing. Its pins stay ``queued`` unless
their name starts with ``pinned-``, ``pinning-`` or ``failed-``, which is how these tests choose
the outcome; asking again for the same CID under another name moves the status, which is how a
status change is produced while a push waits.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading

import numpy as np
import pytest
import requests
from conftest import run, run_cli
from IPython.utils.capture import capture_output

import nbversion
from nbversion.errors import NbversionError, PinningError, RemoteAuthError, RemoteError, RemoteUnreachableError
from nbversion.formats.cid import CID
from nbversion.repo.remotes import open_remote
from nbversion.stores.pinning import PinningService

pytest_plugins = ["conftest_ipfs"]


@pytest.fixture(autouse=True)
def no_outside_credentials(tmp_path, monkeypatch):
    """Credentials come only from what each test sets (not the user's own file or environment)."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in list(os.environ):
        if name.startswith("NBVERSION_IPFS_AUTH") or name in ("NBVERSION_CREDENTIALS", "REQUESTS_CA_BUNDLE"):
            monkeypatch.delenv(name)


def weights(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {f"layer{i}/kernel": rng.standard_normal((64, 64), dtype=np.float32) for i in range(3)}


def write_credentials(tmp_path, text: str):
    path = tmp_path / "config" / "nbversion" / "credentials"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o600)
    return path


@pytest.fixture
def team(repo, ipfs_api, pinning_service, tmp_path):
    """A repository with an IPFS node remote `lab` and the pinning service `svc`, its token in the
    credentials file."""
    repo.remote_add("lab", ipfs_api)
    repo.remote_add("svc", pinning_service.url, kind="pinning")
    write_credentials(tmp_path, f"[svc]\ntoken = {pinning_service.token}\n")
    return repo


def service(pinning_service) -> PinningService:
    return PinningService(pinning_service.url, auth=f"Bearer {pinning_service.token}")


def base58btc(cid: CID) -> str:
    """The CID in multibase base58btc (``z...``), as some services print CIDv1."""
    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    raw = bytes(cid)
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = alphabet[r] + out
    return "z" + "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


# --- pushing to a pinning service -----------------------------------------------------------------


def test_a_version_goes_to_the_node_then_the_service_pins_its_root_with_the_node_as_origin(team, ipfs_node):
    v = team.commit(weights(1), model="clf", message="to keep")
    report = team.pin_remote("clf", "svc", name="pinned-clf-1")
    assert report.pinned and report.via == "lab" and not report.reused
    assert report.pushed.blocks_sent == report.pushed.blocks > 0
    node = open_remote(team, "lab")
    try:
        assert node.pinned(v.cid) and not node.missing(team.version_blocks(v))  # the node keeps serving it
        peer = node._call("/id")
    finally:
        node.close()
    peer = peer[-1] if isinstance(peer, list) else peer
    with service_of(team) as svc:
        (pin,) = svc.pins(cids=[v.cid])
    assert pin.cid == v.cid and pin.requestid == report.pin.requestid and pin.status == "pinned"
    assert pin.meta == {"app": "nbversion", "model": "clf"}
    assert pin.origins and all(
        o.endswith("/p2p/" + peer["ID"]) and o.startswith("/ip4/127.0.0.1/") for o in pin.origins
    )


def service_of(repo) -> PinningService:
    from nbversion.repo.remotes import open_service

    return open_service(repo, "svc")


def test_the_pins_status_is_polled_until_the_service_reports_it_pinned(team, pinning_service):
    v = team.commit(weights(2), model="clf", message="slow to pin")
    seen: list = []
    moved = threading.Event()

    def on_status(status) -> None:
        seen.append(status.status)
        if not moved.is_set():  # the service's work finishes while the push waits
            moved.set()
            with service(pinning_service) as other:
                other.add(v.cid, name="pinned-elsewhere")

    report = team.pin_remote("clf", "svc", name="queued-clf-2", wait_timeout=60, on_status=on_status)
    assert seen[0] == "queued" and seen[-1] == "pinned" and report.pinned and report.waited


def test_a_pin_still_queued_when_the_wait_ends_is_reported_as_it_stands(team):
    team.commit(weights(3), model="clf", message="queued")
    waited = team.pin_remote("clf", "svc", name="queued-clf-3", wait_timeout=0.3)
    assert waited.waited and waited.pin.status == "queued" and not waited.pinned
    skipped = team.pin_remote("clf", "svc", wait=False)  # asked again: the same request, not a second one
    assert not skipped.waited and skipped.reused and skipped.pin.requestid == waited.pin.requestid


def test_a_failed_pin_is_an_error_and_the_version_stays_pinned_on_the_node(team):
    v = team.commit(weights(4), model="clf", message="refused by the service")
    with pytest.raises(PinningError, match=r"svc could not pin .* failed.*The version is on lab, pinned"):
        team.pin_remote("clf", "svc", name="failed-clf-4")
    node = open_remote(team, "lab")
    try:
        assert node.pinned(v.cid)
    finally:
        node.close()


def test_pushing_a_pinned_version_again_sends_nothing_and_asks_the_service_nothing_new(team):
    v = team.commit(weights(5), model="clf", message="twice")
    first = team.pin_remote("clf", "svc", name="pinned-clf-5")
    again = team.pin_remote(v.cid, "svc")
    assert again.reused and again.pin.requestid == first.pin.requestid and again.pushed.up_to_date
    with service_of(team) as svc:
        assert [p.requestid for p in svc.pins(cids=[v.cid])] == [first.pin.requestid]


def test_a_wrong_token_is_refused_before_any_block_is_sent_and_is_never_shown(team, tmp_path):
    v = team.commit(weights(6), model="clf", message="not for them")
    write_credentials(tmp_path, "[svc]\ntoken = not-the-token-93b1\n")
    with pytest.raises(RemoteAuthError, match=r"refused .*HTTP 401.*access token is missing or not accepted") as err:
        team.pin_remote("clf", "svc", name="pinned-clf-6")
    assert "not-the-token-93b1" not in str(err.value) and "not-the-token-93b1" not in repr(err.value)
    node = open_remote(team, "lab")
    try:
        assert node.missing([v.cid]) == {v.cid}  # refused before the push: nothing went to the node
    finally:
        node.close()


def test_pins_are_listed_with_this_repositorys_version_comparing_cids_decoded(team, pinning_service):
    v = team.commit(weights(7), model="clf", message="listed")
    team.pin_remote("clf", "svc", name="pinned-clf-7")
    foreign = CID.parse("bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy")  # someone else's
    reply = requests.post(  # another client spelled the same version's CID in base58btc
        f"{pinning_service.url}/pins",
        json={"cid": base58btc(v.cid), "name": "pinning-other-spelling"},
        headers={"Authorization": f"Bearer {pinning_service.token}"},
        timeout=10,
    )
    assert reply.status_code == 202 and reply.json()["pin"]["cid"].startswith("z")
    with service(pinning_service) as other:
        other.add(foreign, name="failed-foreign")
    pins = team.remote_pins("svc")
    mine = [p for p in pins if p.pin.cid == v.cid]
    assert {p.pin.status for p in mine} == {"pinned", "pinning"} and all(p.version.cid == v.cid for p in mine)
    (theirs,) = [p for p in pins if p.pin.cid == foreign]
    assert theirs.version is None and theirs.pin.status == "failed"
    assert {p.pin.cid for p in team.remote_pins("svc", status=["failed"])} >= {foreign}
    assert v.cid not in {p.pin.cid for p in team.remote_pins("svc", status=["failed"])}


def test_which_node_the_blocks_go_through_is_asked_when_it_is_not_clear(team, ipfs_api, pinning_service, tmp_path):
    team.commit(weights(8), model="clf", message="where to")
    team.remote_add("lab2", ipfs_api)
    with pytest.raises(NbversionError, match=r"Which IPFS node .*IPFS nodes: lab, lab2\. Name one with `--via NODE`"):
        team.pin_remote("clf", "svc", name="pinned-clf-8")
    assert team.pin_remote("clf", "svc", via="lab2", name="pinned-clf-8").via == "lab2"
    team.remote_add("svc2", team.remote("svc").url, kind="pinning", via="lab")  # the same service, another name
    write_credentials(tmp_path, f"[svc]\ntoken = {pinning_service.token}\n[svc2]\ntoken = {pinning_service.token}\n")
    assert team.pin_remote("clf", "svc2").via == "lab"
    with pytest.raises(RemoteError, match="'svc' is a pinning service, not an IPFS node"):
        team.push("clf", "svc")
    with pytest.raises(NbversionError, match="No IPFS node remote named 'svc'"):
        team.remote_add("svc3", team.remote("svc").url, kind="pinning", via="svc")


# --- from the command line ------------------------------------------------------------------------


def test_push_to_a_pinning_service_and_list_its_pins_from_the_command_line(tmp_path, ipfs_api, pinning_service):
    here = tmp_path / "proj" / ".nbversion"
    with nbversion.Repo(here) as r:
        v = r.commit(weights(9), model="clf", message="from a shell")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "NBVERSION_IPFS_AUTH_SVC": pinning_service.token}

    def cli(*args, code=0):
        out = run_cli("--repo", str(here), *args, env=env)
        assert out.returncode == code, out.stderr
        return out.stdout

    cli("remote", "add", "lab", ipfs_api)
    assert "(a pinning service, through lab)" in cli(
        "remote", "add", "svc", pinning_service.url, "--pinning-service", "--via", "lab"
    )
    assert cli("remote", "list").splitlines() == [f"lab  {ipfs_api}", f"svc  {pinning_service.url}  (pinning service, through lab)"]
    assert json.loads(cli("remote", "list", "--json"))["svc"] == {"url": pinning_service.url, "kind": "pinning", "via": "lab"}
    out = cli("push", "clf", "--to", "svc", "--pin-name", "pinned-clf-cli")
    assert (
        f"Pushed clf v1 ({v.cid}) to lab" in out and "Asked svc to pin it (request req-" in out and "): pinned." in out
    )
    listed = cli("pins", "svc")
    assert any(line.split()[:4] == ["pinned", str(v.cid), "clf", "v1"] for line in listed.splitlines())
    (pin,) = [p for p in json.loads(cli("pins", "svc", "--json")) if p["cid"] == str(v.cid)]
    assert pin["status"] == "pinned" and pin["model"] == "clf" and pin["name"] == "pinned-clf-cli"
    with nbversion.Repo(here) as r:
        v2 = r.commit(weights(10), model="clf", message="queued for ever")
    out = cli("push", "--to", "svc", "--wait", "0.2", code=1)  # waited, not pinned: a script can tell
    assert f"({v2.cid})" in out and ": queued; not pinned yet" in out and "pins svc`" in out
    report = json.loads(cli("push", "--to", "svc", "--no-wait", "--json"))
    assert report["pin"]["status"] == "queued" and report["reused"] and report["via"] == "lab"


# --- HTTPS ----------------------------------------------------------------------------------------


class TlsTerminator:
    """HTTPS on 127.0.0.1 in front of a plain-HTTP service (bytes relayed both ways), with a
    certificate signed by a CA made for the test: what a reverse proxy does for a real deployment."""

    def __init__(self, backend_port: int, cert, key) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self.backend = backend_port
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._relay, args=(client,), daemon=True).start()

    def _relay(self, client: socket.socket) -> None:
        try:
            tls = self.context.wrap_socket(client, server_side=True)
        except (ssl.SSLError, OSError):
            client.close()
            return
        backend = socket.create_connection(("127.0.0.1", self.backend))

        def pump(src, dst) -> None:
            try:
                while data := src.recv(65536):
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(backend, tls), daemon=True).start()
        pump(tls, backend)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls_files(tmp_path):
    """A CA and a certificate for 127.0.0.1 it signed (made with the openssl command)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the HTTPS test makes its certificates with the openssl command, which is not installed")
    d = tmp_path / "tls"
    d.mkdir()

    def ssl_cmd(*args):
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True)

    ssl_cmd("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=nbversion test CA")  # fmt: skip
    ssl_cmd("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "host.key", "-out", "host.csr", "-subj", "/CN=127.0.0.1")
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    ssl_cmd("x509", "-req", "-in", "host.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "host.pem",
            "-days", "2", "-extfile", "ext.cnf")  # fmt: skip
    return d / "ca.pem", d / "host.pem", d / "host.key"


def test_https_endpoints_work_with_a_private_ca_named_in_requests_ca_bundle(
    repo, ipfs_node, pinning_service, tls_files, tmp_path, monkeypatch
):
    ca, cert, key = tls_files
    node_port = int(ipfs_node.url.rsplit(":", 1)[1])
    node_tls = TlsTerminator(node_port, cert, key)
    svc_tls = TlsTerminator(pinning_service.port, cert, key)
    try:
        v = repo.commit(weights(11), model="clf", message="over TLS")
        repo.remote_add("lab", f"https://127.0.0.1:{node_tls.port}")
        repo.remote_add("svc", f"https://127.0.0.1:{svc_tls.port}", kind="pinning", via="lab")
        write_credentials(tmp_path, f"[svc]\ntoken = {pinning_service.token}\n")
        with pytest.raises(RemoteUnreachableError, match="did not pass the TLS check.*REQUESTS_CA_BUNDLE"):
            repo.pin_remote("clf", "svc", name="pinned-clf-tls")  # an unknown CA is refused
        with pytest.raises(RemoteUnreachableError, match="IPFS node .* did not pass the TLS check.*REQUESTS_CA_BUNDLE"):
            repo.push("clf", "lab")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(ca))
        report = repo.pin_remote("clf", "svc", name="pinned-clf-tls")
        assert report.pinned and report.pushed.blocks_sent == report.pushed.blocks
        assert [p.version.cid for p in repo.remote_pins("svc") if p.pin.cid == v.cid] == [v.cid]
    finally:
        node_tls.close()
        svc_tls.close()


def test_a_notebook_pushes_to_a_pinning_service_through_its_node(ip, ipfs_api, pinning_service, tmp_path):
    """``%nbversion push --to SERVICE`` does what the shell's push does: the blocks go to the
    service's node, then the service is asked to pin the version by CID."""
    run(ip, "import numpy as np\nw = {'a': np.arange(4, dtype='float32')}")
    run(ip, "%commit_weights w -m first")
    repo = nbversion.Repo(tmp_path / ".nbversion")
    repo.remote_add("lab", ipfs_api)
    repo.remote_add("svc", pinning_service.url, kind="pinning", via="lab")
    write_credentials(tmp_path, f"[svc]\ntoken = {pinning_service.token}\n")
    with capture_output() as shown:
        run(ip, "%nbversion push --to svc --no-wait")
    cid = repo.show("w").cid
    assert "Asked svc to pin it" in shown.stdout and "not waited for" in shown.stdout
    assert "!nbversion pins svc" in shown.stdout
    assert cid in [p.pin.cid for p in repo.remote_pins("svc")]
    assert open_remote(repo, "lab").pinned_whole(cid)
