"""TLS on the client port, the same zoo.cfg against ZooKeeper 3.8.0 and raftzk
(../shared/tls-sasl.md, cases T1-T10): secureClientPort with PEM stores, client certificates
as x509 ids, protocol and suite defaults, 4lw inside TLS, port unification, a TLS-only
server, and bad input on the TLS port."""

import os
import shutil
import socket
import ssl
import struct
import subprocess
import time

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import InvalidACLError, NoAuthError
from kazoo.retry import KazooRetry
from kazoo.security import ACL, Id

import servers
from conftest import client_context, start

ALICE = "CN=alice,OU=test,O=raftzk,C=US"


def kazoo_tls(port, certs, cert=True, start_timeout=15):
    kw = dict(use_ssl=True, ca=os.path.join(certs, "ca.pem"), verify_certs=True)
    if cert:
        kw.update(certfile=os.path.join(certs, "client.crt"),
                  keyfile=os.path.join(certs, "client.key"))
    c = KazooClient(hosts="127.0.0.1:%d" % port, timeout=10,
                    connection_retry=KazooRetry(max_tries=0), **kw)
    c.start(timeout=start_timeout)
    return c


def never_connects(make):
    """True if `make()` (a kazoo start) fails within its timeout."""
    try:
        c = make()
    except Exception:
        return True
    c.stop()
    c.close()
    return False


def tls_exchange(port, ctx, payload=b"ruok", timeout=5.0):
    """Handshake with `ctx`, send `payload`, read until EOF: (reply text, ssl object facts),
    or (None, error) when the handshake or read failed."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
            with ctx.wrap_socket(raw) as s:
                facts = (s.version(), s.cipher()[0])
                s.sendall(payload)
                out = b""
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    out += d
                return out.decode("utf-8", "replace"), facts
    except (ssl.SSLError, OSError) as e:
        return None, e


def plain_exchange(port, payload, timeout=5.0):
    """Send plaintext `payload`, read until EOF or `timeout`: the bytes received."""
    out = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(payload)
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    break
                out += d
        except (socket.timeout, ConnectionResetError):
            pass
    return out


def connect_request_frame():
    body = struct.pack(">iqiq", 0, 0, 10000, 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
    return struct.pack(">i", len(body)) + body


@pytest.fixture(scope="module")
def srv(server_kind, tmp_path_factory, certs):
    s = start(server_kind, tmp_path_factory.mktemp("tls"), certs)
    yield s
    s.stop()


@pytest.fixture
def alice(srv, certs):
    c = kazoo_tls(srv.secure_port, certs)
    yield c
    c.stop()
    c.close()


def test_t1_client_certificate_is_the_x509_id(srv, alice):
    path = "/t1-%d" % time.monotonic_ns()
    alice.create(path, b"x", acl=[ACL(31, Id("auth", ""))])
    acls, _ = alice.get_acls(path)
    assert [(a.perms, a.id.scheme, a.id.id) for a in acls] == [(31, "x509", ALICE)]
    assert alice.get(path)[0] == b"x"


def java_whoami(port, certs):
    """zkCli's whoami through the Java client's Netty socket over TLS, with alice's
    certificate: the ids the server gave the connection."""
    av = [
        "java", "-Xmx128m", "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.client.secure=true",
        "-Dzookeeper.clientCnxnSocket=org.apache.zookeeper.ClientCnxnSocketNetty",
        "-Dzookeeper.ssl.keyStore.location=" + os.path.join(certs, "client.pem"),
        "-Dzookeeper.ssl.trustStore.location=" + os.path.join(certs, "ca.pem"),
        "-cp", servers.ZK_CLASSPATH, "org.apache.zookeeper.ZooKeeperMain",
        "-server", "127.0.0.1:%d" % port, "whoami",
    ]
    proc = subprocess.run(av, capture_output=True, text=True, timeout=90)
    return proc.stdout + proc.stderr


def test_t1_java_netty_client(srv, certs):
    out = java_whoami(srv.secure_port, certs)
    assert "x509: " + ALICE in out, out[-2000:]
    assert "ip: 127.0.0.1" in out, out[-2000:]


def test_t2_no_client_certificate_is_refused(srv, certs):
    reply, err = tls_exchange(srv.secure_port, client_context(certs, cert=False))
    assert reply in (None, ""), "served without a client certificate: %r" % reply
    assert never_connects(lambda: kazoo_tls(srv.secure_port, certs, cert=False, start_timeout=4))


def test_t3_untrusted_client_certificate_is_refused(srv, certs):
    reply, err = tls_exchange(srv.secure_port, client_context(certs, rogue=True))
    assert reply in (None, ""), "served a certificate from an untrusted CA: %r" % reply


def test_t4_plaintext_to_the_tls_port_is_closed(srv):
    out = plain_exchange(srv.secure_port, connect_request_frame())
    # closed with nothing, or with a TLS alert record: never a ConnectResponse
    assert out == b"" or out[:1] == b"\x15", out
    assert never_connects(lambda: _plain_kazoo(srv.secure_port))


def _plain_kazoo(port):
    c = KazooClient(hosts="127.0.0.1:%d" % port, timeout=4, connection_retry=KazooRetry(max_tries=0))
    c.start(timeout=4)
    return c


def test_t5_tls_to_the_plain_port_is_closed(srv, certs):
    reply, err = tls_exchange(srv.port, client_context(certs))
    assert reply is None, "a TLS handshake succeeded on the plaintext port"


def test_t6_tls12_and_zookeepers_suites_only(srv, certs):
    reply, facts = tls_exchange(
        srv.secure_port, client_context(certs, maximum=ssl.TLSVersion.TLSv1_2))
    assert reply == "imok"
    assert facts == ("TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256")
    reply, _ = tls_exchange(srv.secure_port, client_context(certs, minimum=ssl.TLSVersion.TLSv1_3))
    assert reply is None, "TLS 1.3 is not enabled by default"
    reply, _ = tls_exchange(srv.secure_port, client_context(
        certs, maximum=ssl.TLSVersion.TLSv1_2, ciphers="ECDHE-RSA-CHACHA20-POLY1305"))
    assert reply is None, "CHACHA20 is not among ZooKeeper's default suites"


def test_t7_four_letter_words_inside_tls(srv, certs):
    reply, _ = tls_exchange(srv.secure_port, client_context(certs))
    assert reply == "imok"
    reply, _ = tls_exchange(srv.secure_port, client_context(certs), payload=b"srvr")
    assert reply is not None and "Mode: standalone" in reply
    assert b"imok" not in plain_exchange(srv.secure_port, b"ruok", timeout=5)


def test_t10_x509_acls(srv, alice, server_kind, certs):
    path = "/t10-%d" % time.monotonic_ns()
    alice.create(path, b"secret", acl=[ACL(31, Id("x509", ALICE))])
    assert alice.get(path)[0] == b"secret"
    plain = KazooClient(hosts=srv.hostport, timeout=10)
    plain.start(timeout=15)
    try:
        with pytest.raises(NoAuthError):
            plain.get(path)
    finally:
        plain.stop()
        plain.close()
    with pytest.raises(InvalidACLError):
        alice.create(path + "-bad", acl=[ACL(31, Id("x509", "not a dn ==="))])
    with pytest.raises(InvalidACLError):
        alice.create(path + "-sasl", acl=[ACL(31, Id("sasl", "bob"))])


def test_bad_input_on_the_tls_port_closes_only_that_connection(srv, certs):
    socks = []
    try:
        for payload in (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  # a truncated ClientHello
                        b"\x16\x03\x01\xff\xff" + os.urandom(64),  # a record of garbage
                        os.urandom(256),
                        b""):  # connects and says nothing
            s = socket.create_connection(("127.0.0.1", srv.secure_port), timeout=5)
            if payload:
                s.sendall(payload)
            socks.append(s)
        c = kazoo_tls(srv.secure_port, certs)
        try:
            c.ensure_path("/still-serving")
            assert c.exists("/still-serving") is not None
        finally:
            c.stop()
            c.close()
        assert srv.alive()
    finally:
        for s in socks:
            s.close()


@pytest.fixture(scope="module")
def unified(server_kind, tmp_path_factory, certs):
    s = start(server_kind, tmp_path_factory.mktemp("unified"), certs, secure_port=False, **{
        "client.portUnification": "true",
        "serverCnxnFactory": "org.apache.zookeeper.server.NettyServerCnxnFactory",
        "ssl.clientAuth": "want",
        # ZooKeeper 3.8.0 needs this line for certificates on a unified port alone.
        "authProvider.1": "org.apache.zookeeper.server.auth.X509AuthenticationProvider",
    })
    yield s
    s.stop()


def test_t8_port_unification(unified, certs):
    assert servers.four_letter_word(unified.host, unified.port, b"ruok") == "imok"
    reply, _ = tls_exchange(unified.port, client_context(certs))
    assert reply == "imok"
    path = "/t8-%d" % time.monotonic_ns()
    plain = KazooClient(hosts=unified.hostport, timeout=10)
    plain.start(timeout=15)
    nocert = kazoo_tls(unified.port, certs, cert=False)
    withcert = kazoo_tls(unified.port, certs)
    try:
        plain.create(path, b"p")
        assert nocert.get(path)[0] == b"p"
        # without a certificate only the ip id: "auth" has nothing to expand to
        with pytest.raises(InvalidACLError):
            nocert.create(path + "/n", acl=[ACL(31, Id("auth", ""))])
        withcert.create(path + "/c", acl=[ACL(31, Id("auth", ""))])
        acls, _ = withcert.get_acls(path + "/c")
        assert [(a.id.scheme, a.id.id) for a in acls] == [("x509", ALICE)]
        with pytest.raises(NoAuthError):
            plain.get(path + "/c")
    finally:
        for c in (plain, nocert, withcert):
            c.stop()
            c.close()
    # an untrusted certificate is refused under `want` too
    reply, _ = tls_exchange(unified.port, client_context(certs, rogue=True))
    assert reply in (None, "")


def test_t9_tls13_opt_in(server_kind, tmp_path_factory, certs):
    s = start(server_kind, tmp_path_factory.mktemp("tls13"), certs, **{
        "ssl.enabledProtocols": "TLSv1.3,TLSv1.2",
        "ssl.ciphersuites": "TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ssl.clientAuth": "none",
    })
    try:
        reply, facts = tls_exchange(
            s.secure_port, client_context(certs, cert=False, minimum=ssl.TLSVersion.TLSv1_3))
        assert reply == "imok"
        assert facts == ("TLSv1.3", "TLS_AES_128_GCM_SHA256")
        c = kazoo_tls(s.secure_port, certs, cert=False)
        try:
            c.ensure_path("/t9")
        finally:
            c.stop()
            c.close()
    finally:
        s.stop()


def test_tls_only_server(server_kind, tmp_path_factory, certs):
    s = start(server_kind, tmp_path_factory.mktemp("tlsonly"), certs, plain_port=False)
    try:
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", s.port), timeout=2).close()
        c = kazoo_tls(s.secure_port, certs)
        try:
            c.ensure_path("/tls-only")
        finally:
            c.stop()
            c.close()
    finally:
        s.stop()


def served_common_name(port, certs):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with client_context(certs).wrap_socket(raw) as s:
            subject = dict(rdn[0] for rdn in s.getpeercert()["subject"])
            return subject.get("commonName")


def test_certificate_rotation_without_restart(server_kind, tmp_path_factory, certs):
    """Beyond ZooKeeper (which reloads only quorum certificates): a renewed keystore file is
    served to new connections without a restart."""
    if server_kind != "raftzk":
        pytest.skip("ZooKeeper 3.8.0 does not reload client-port certificates")
    d = tmp_path_factory.mktemp("rotate")
    keystore = os.path.join(str(d), "server.pem")
    shutil.copy(os.path.join(certs, "server.pem"), keystore)
    s = start(server_kind, d, certs, **{"ssl.keyStore.location": keystore})
    try:
        assert served_common_name(s.secure_port, certs) == "localhost"
        alice = kazoo_tls(s.secure_port, certs)
        fresh = keystore + ".new"
        shutil.copy(os.path.join(certs, "server2.pem"), fresh)
        os.replace(fresh, keystore)
        deadline = time.monotonic() + 30
        while served_common_name(s.secure_port, certs) != "localhost-renewed":
            assert time.monotonic() < deadline, "the renewed certificate was not served in 30 s"
            time.sleep(0.5)
        alice.ensure_path("/rotated")  # the connection made before the rotation carries on
        alice.stop()
        alice.close()
    finally:
        s.stop()


def test_pkcs12_stores(server_kind, tmp_path_factory, certs):
    """PKCS12 key and trust stores (openssl pkcs12 -export; keytool -importcert), with their
    passwords: client certificates verified, the x509 id as with PEM."""
    s = start(server_kind, tmp_path_factory.mktemp("p12"), certs, **{
        "ssl.keyStore.location": os.path.join(certs, "server.p12"),
        "ssl.keyStore.password": "secret",
        "ssl.trustStore.location": os.path.join(certs, "trust.p12"),
        "ssl.trustStore.password": "secret",
    })
    try:
        c = kazoo_tls(s.secure_port, certs)
        try:
            path = "/p12-%d" % time.monotonic_ns()
            c.create(path, acl=[ACL(31, Id("auth", ""))])
            acls, _ = c.get_acls(path)
            assert [(a.id.scheme, a.id.id) for a in acls] == [("x509", ALICE)]
        finally:
            c.stop()
            c.close()
        reply, _ = tls_exchange(s.secure_port, client_context(certs, rogue=True))
        assert reply in (None, "")
    finally:
        s.stop()


def serves_with_key_store(server_kind, tmp, certs, key_store, password="secret"):
    """Starts a TLS server on `key_store` with its password and checks a TLS client gets an
    answer (ruok: imok)."""
    s = start(server_kind, tmp, certs, **{
        "ssl.keyStore.location": key_store,
        "ssl.keyStore.password": password,
    })
    try:
        reply, _ = tls_exchange(s.secure_port, client_context(certs))
        assert reply == "imok"
    finally:
        s.stop()


def test_pbes2_encrypted_pem_key(server_kind, tmp_path_factory, certs):
    """A PEM key encrypted the way OpenSSL 3 does by default (PBES2, AES-256): raftzk reads
    it with ssl.keyStore.password; ZooKeeper 3.8.0 on JDK 17 cannot ("PBES2 SecretKeyFactory
    not available")."""
    if server_kind != "raftzk":
        pytest.skip("ZooKeeper 3.8.0 on JDK 17 does not read PBES2-encrypted PEM keys")
    serves_with_key_store(server_kind, tmp_path_factory.mktemp("pbes2"), certs, os.path.join(certs, "server-pbes2.pem"))


def test_legacy_pbe_sha1_3des_encrypted_pem_key(server_kind, tmp_path_factory, certs):
    """T9: a PEM key encrypted as ZooKeeper's documentation makes it (`openssl pkcs8 -topk8
    -v1 PBE-SHA1-3DES`, PKCS#12's pbeWithSHAAnd3-KeyTripleDES-CBC) with
    ssl.keyStore.password: served on both servers."""
    serves_with_key_store(server_kind, tmp_path_factory.mktemp("pbe3des"), certs, os.path.join(certs, "server-enc.pem"))


def test_legacy_3des_pkcs12_store(server_kind, tmp_path_factory, certs):
    """A PKCS12 keystore written with the legacy encryption (`openssl pkcs12 -export
    -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES -macalg sha1`, as OpenSSL 1.1 and keytool
    before JDK 12 wrote them): served on both servers."""
    store = os.path.join(certs, "server-3des.p12")
    subprocess.run(["openssl", "pkcs12", "-export", "-in", os.path.join(certs, "server.crt"),
                    "-inkey", os.path.join(certs, "server.key"), "-name", "server",
                    "-keypbe", "PBE-SHA1-3DES", "-certpbe", "PBE-SHA1-3DES", "-macalg", "sha1",
                    "-out", store, "-passout", "pass:secret"], check=True, capture_output=True)
    serves_with_key_store(server_kind, tmp_path_factory.mktemp("p12-3des"), certs, store)
