"""Credentials for remotes: from the environment or a private credentials file, sent to the remote,
never shown, never stored in a repository.

An IPFS node that wants credentials is a small local stub here (js-ipfs has no
``API.Authorizations``), answering as Kubo does; a pinning service is the real mock service.
"""

from __future__ import annotations

import os

import pytest
from conftest import run_cli

from nbversion.errors import CredentialsError, RemoteAddressError, RemoteAuthError, RemoteError
from nbversion.repo.credentials import Secret, credentials_path, secret_for
from nbversion.repo.remotes import open_remote, open_service

pytest_plugins = ["conftest_ipfs"]


@pytest.fixture(autouse=True)
def clean_environment(tmp_path, monkeypatch):
    """No credentials but those each test sets; the config folder under tmp_path."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in list(os.environ):
        if name.startswith("NBVERSION_IPFS_AUTH") or name == "NBVERSION_CREDENTIALS":
            monkeypatch.delenv(name)


def write(path, text: str, mode: int = 0o600):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def secure_node(node_wanting_auth):
    """An RPC API that wants `Authorization: Bearer s3cret` or `Basic YWxpY2U6cHc=` (alice:pw)."""
    return node_wanting_auth("Bearer s3cret", "Basic YWxpY2U6cHc=")


def test_a_nodes_secret_comes_from_its_section_of_the_private_credentials_file(
    repo, secure_node, node_wanting_auth, tmp_path
):
    repo.remote_add("secure", secure_node)
    path = write(
        tmp_path / "config" / "nbversion" / "credentials",
        "[other]\nauth = Bearer nope\n[secure]\nauth = Bearer s3cret\n",
    )
    assert credentials_path() == path
    open_remote(repo, "secure").close()
    assert node_wanting_auth.seen[-1] == "Bearer s3cret"
    write(path, "[secure]\nauth = alice:pw   ; a USER:PASSWORD goes as HTTP Basic\n")
    open_remote(repo, "secure").close()
    assert node_wanting_auth.seen[-1] == "Basic YWxpY2U6cHc="
    write(path, "[secure]\nauth = Bearer wrong-one\n")
    with pytest.raises(RemoteError, match=r"HTTP 403\): it wants credentials") as err:
        open_remote(repo, "secure")
    assert "wrong-one" not in str(err.value)


def test_the_remotes_own_variable_beats_its_file_section_which_beats_the_variable_for_all(tmp_path, monkeypatch):
    path = write(tmp_path / "config" / "nbversion" / "credentials", "[lab]\nauth = Bearer from-file\n")
    url = "http://127.0.0.1:5001"
    monkeypatch.setenv("NBVERSION_IPFS_AUTH", "Bearer for-all")
    assert secret_for("lab", url).reveal() == "Bearer from-file"
    assert secret_for("other", url).reveal() == "Bearer for-all"
    monkeypatch.setenv("NBVERSION_IPFS_AUTH_LAB", "Bearer own-variable")
    assert secret_for("lab", url).reveal() == "Bearer own-variable"
    assert secret_for("pins", url, shared=False) is None  # a pinning service never gets the secret for every node
    write(path, f"[{url}]\ntoken = by-url\n")  # an address given directly finds its section by URL
    monkeypatch.delenv("NBVERSION_IPFS_AUTH")
    assert secret_for(None, url).reveal() == "Bearer by-url" and secret_for("lab2", "http://elsewhere:5001") is None


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620, 0o644])
def test_a_credentials_file_other_users_can_open_is_refused_and_nothing_is_sent(
    repo, secure_node, node_wanting_auth, tmp_path, mode
):
    repo.remote_add("secure", secure_node)
    path = write(tmp_path / "config" / "nbversion" / "credentials", "[secure]\nauth = Bearer s3cret\n", mode)
    with pytest.raises(CredentialsError, match=rf"{path} is open to other users .*`chmod 600 {path}`") as err:
        open_remote(repo, "secure")
    assert "s3cret" not in str(err.value) and node_wanting_auth.seen == []


def test_the_file_can_live_elsewhere_and_a_missing_or_malformed_one_is_a_clear_error(repo, tmp_path, monkeypatch):
    elsewhere = write(tmp_path / "vault" / "nbv.ini", "[lab]\nauth = Bearer from-vault\n")
    monkeypatch.setenv("NBVERSION_CREDENTIALS", str(elsewhere))
    assert secret_for("lab", "http://127.0.0.1:5001").reveal() == "Bearer from-vault"
    monkeypatch.setenv("NBVERSION_CREDENTIALS", str(tmp_path / "vault" / "missing.ini"))
    with pytest.raises(CredentialsError, match="NBVERSION_CREDENTIALS names .*missing.ini, which does not exist"):
        secret_for("lab", "http://127.0.0.1:5001")
    write(elsewhere, "auth = Bearer leaked-if-quoted\n")  # no section header
    monkeypatch.setenv("NBVERSION_CREDENTIALS", str(elsewhere))
    with pytest.raises(CredentialsError, match=r"is not an INI file .*`\[NAME\]`") as err:
        secret_for("lab", "http://127.0.0.1:5001")
    assert "leaked-if-quoted" not in str(err.value)
    monkeypatch.delenv("NBVERSION_CREDENTIALS")
    monkeypatch.delenv("XDG_CONFIG_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert credentials_path() == tmp_path / "home" / ".config" / "nbversion" / "credentials"
    assert secret_for("lab", "http://127.0.0.1:5001") is None  # no file at all: no credentials, no error


def test_a_secret_never_shows_itself():
    secret = Secret("Bearer s3cret")
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", "%s" % secret, "{}".format(secret), repr([secret])]
    assert not any("s3cret" in text for text in shown)
    assert secret.reveal() == "Bearer s3cret" and secret == "Bearer s3cret"


def test_credentials_never_go_into_the_repository_nor_its_listing(repo, pinning_service, tmp_path):
    before = (repo.path / "remotes.json").read_text() if (repo.path / "remotes.json").exists() else None
    for url, kind in (
        ("https://alice:pw@node.example:5001", "ipfs"),
        (f"http://u:{pinning_service.token}@127.0.0.1:1", "pinning"),
    ):
        with pytest.raises(RemoteAddressError, match="must not hold credentials") as err:
            repo.remote_add("leaky", url, kind=kind)
        assert "alice:pw" not in str(err.value) and pinning_service.token not in str(err.value)
    assert ((repo.path / "remotes.json").read_text() if (repo.path / "remotes.json").exists() else None) == before
    repo.remote_add("svc", pinning_service.url, kind="pinning")
    write(tmp_path / "config" / "nbversion" / "credentials", f"[svc]\ntoken = {pinning_service.token}\n")
    with open_service(repo, "svc") as svc:
        svc.pins()  # the token works...
        assert pinning_service.token not in repr(svc)  # ...and does not show
    assert pinning_service.token not in (repo.path / "remotes.json").read_text()
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    listing = run_cli("--repo", str(repo.path), "remote", "list", env=env)
    assert listing.returncode == 0 and "svc" in listing.stdout and pinning_service.token not in listing.stdout


def test_a_pinning_services_token_from_the_file_is_used_and_a_wrong_one_is_refused_without_showing_it(
    repo, pinning_service, tmp_path
):
    repo.remote_add("svc", pinning_service.url, kind="pinning")
    path = write(tmp_path / "config" / "nbversion" / "credentials", f"[svc]\ntoken = {pinning_service.token}\n")
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config")}
    ok = run_cli("--repo", str(repo.path), "pins", "svc", env=env)
    assert ok.returncode == 0, ok.stderr
    write(path, "[svc]\ntoken = wrong-token-c41d\n")
    refused = run_cli("--repo", str(repo.path), "pins", "svc", env=env)
    assert refused.returncode == 1 and "refused the list of pins (HTTP 401" in refused.stderr
    assert "wrong-token-c41d" not in refused.stderr + refused.stdout
    with pytest.raises(RemoteAuthError):
        repo.remote_pins("svc")
