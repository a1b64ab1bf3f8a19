"""ACLs and digest authentication."""

import pytest
from kazoo.exceptions import (
    AuthFailedError,
    BadVersionError,
    InvalidACLError,
    NoAuthError,
    NoNodeError,
)
from kazoo.protocol.states import KazooState
from kazoo.security import (
    ACL,
    CREATOR_ALL_ACL,
    OPEN_ACL_UNSAFE,
    READ_ACL_UNSAFE,
    Id,
    Permissions,
    make_acl,
    make_digest_acl,
    make_digest_acl_credential,
)

import rawzk
from helpers import wait_for

USER, PASS = "alice", "secret"


def test_digest_credential_format():
    # the id format ZooKeeper expects: user:BASE64(SHA1("user:password"))
    assert make_digest_acl_credential("user", "pass") == "user:smGaoVKd/cQkjm7b88GyorAUz20="


def test_digest_acl_with_auth(make_client, base):
    owner = make_client(auth_data=[("digest", "%s:%s" % (USER, PASS))])
    stranger = make_client()
    p = base + "/secret"
    acl = [make_digest_acl(USER, PASS, all=True)]
    owner.create(p, b"s3cr3t", acl=acl)
    assert owner.get(p)[0] == b"s3cr3t"
    owner.set(p, b"v2")
    owner.create(p + "/child", acl=acl)
    # without auth: every checked op is denied
    with pytest.raises(NoAuthError):
        stranger.get(p)
    with pytest.raises(NoAuthError):
        stranger.set(p, b"x")
    with pytest.raises(NoAuthError):
        stranger.get_children(p)
    with pytest.raises(NoAuthError):
        stranger.create(p + "/other")
    with pytest.raises(NoAuthError):
        stranger.delete(p + "/child")
    with pytest.raises(NoAuthError):
        stranger.set_acls(p, OPEN_ACL_UNSAFE)
    # exists does no ACL check
    st = stranger.exists(p)
    assert st is not None and st.version == 1
    # after add_auth the same session may do everything
    assert stranger.add_auth("digest", "%s:%s" % (USER, PASS)) is True
    assert stranger.get(p)[0] == b"v2"
    stranger.delete(p + "/child")
    stranger.set(p, b"v3")


def test_wrong_password_auth_succeeds_but_matches_nothing(make_client, zk, base):
    p = base + "/guarded"
    zk.add_auth("digest", "%s:%s" % (USER, PASS))
    zk.create(p, b"x", acl=[make_digest_acl(USER, PASS, all=True)])
    other = make_client()
    assert other.add_auth("digest", "%s:wrong" % USER) is True
    assert other.connected
    with pytest.raises(NoAuthError):
        other.get(p)


def test_several_auths_accumulate(make_client, base):
    a = make_client(auth_data=[("digest", "a:1")])
    p1, p2 = base + "/for-a", base + "/for-b"
    a.create(p1, acl=[make_digest_acl("a", "1", all=True)])
    a.add_auth("digest", "b:2")
    a.create(p2, acl=[make_digest_acl("b", "2", all=True)])
    assert a.get(p1)[0] == b"" and a.get(p2)[0] == b""
    b = make_client(auth_data=[("digest", "b:2")])
    with pytest.raises(NoAuthError):
        b.get(p1)
    assert b.get(p2)[0] == b""


def test_get_acl(zk, base):
    p = base + "/g"
    zk.create(p)
    acls, st = zk.get_acls(p)
    assert acls == [ACL(Permissions.ALL, Id("world", "anyone"))]
    assert st.aversion == 0
    assert st == zk.exists(p)
    acl = [make_digest_acl(USER, PASS, read=True, admin=True), make_acl("world", "anyone", read=True, admin=True)]
    zk.create(base + "/g2", acl=acl)
    acls, _ = zk.get_acls(base + "/g2")  # world has ADMIN: ids are not masked
    assert sorted(acls) == sorted(acl)
    with pytest.raises(NoNodeError):
        zk.get_acls(base + "/missing")


def test_get_acl_without_admin_masks_digest(make_client, zk, base):
    # world READ + digest ALL: a stranger has READ but no ADMIN
    p = base + "/masked"
    acl = [make_acl("world", "anyone", read=True), make_digest_acl(USER, PASS, all=True)]
    zk.create(p, acl=acl)
    stranger = make_client()
    acls, _ = stranger.get_acls(p)
    assert sorted(acls) == sorted(
        [ACL(Permissions.READ, Id("world", "anyone")), ACL(Permissions.ALL, Id("digest", USER + ":x"))]
    )
    # with ADMIN the real digest comes back
    admin = make_client(auth_data=[("digest", "%s:%s" % (USER, PASS))])
    acls, _ = admin.get_acls(p)
    assert sorted(acls) == sorted(acl)


def test_get_acl_needs_read_or_admin(make_client, zk, base):
    p = base + "/nothing"
    zk.create(p, acl=[make_digest_acl(USER, PASS, all=True)])
    with pytest.raises(NoAuthError):
        zk.get_acls(p)
    p2 = base + "/admin-only"
    zk.create(p2, acl=[make_acl("world", "anyone", admin=True)])
    acls, st = zk.get_acls(p2)
    assert acls == [ACL(Permissions.ADMIN, Id("world", "anyone"))]
    with pytest.raises(NoAuthError):
        zk.get(p2)


def test_set_acl_with_version(zk, base):
    p = base + "/s"
    zk.create(p, b"d")
    st = zk.set_acls(p, READ_ACL_UNSAFE + [make_acl("world", "anyone", admin=True)], version=0)
    assert st.aversion == 1
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=0)
    with pytest.raises(BadVersionError):
        zk.set_acls(p, OPEN_ACL_UNSAFE, version=7)
    # now read-only for world (plus admin)
    with pytest.raises(NoAuthError):
        zk.set(p, b"x")
    assert zk.get(p)[0] == b"d"
    st = zk.set_acls(p, OPEN_ACL_UNSAFE, version=1)
    assert st.aversion == 2
    zk.set(p, b"x")
    with pytest.raises(NoNodeError):
        zk.set_acls(base + "/missing", OPEN_ACL_UNSAFE)


def test_set_acl_needs_admin(zk, base):
    p = base + "/na"
    zk.create(p, acl=[make_acl("world", "anyone", read=True, write=True)])
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)
    zk.set(p, b"ok")


def test_invalid_acl_empty(server, zk, base):
    p = base + "/e"
    zk.create(p)
    with pytest.raises(InvalidACLError):
        zk.set_acls(p, [])
    # kazoo's create() replaces an empty list by its default ACL; a raw create
    # sends the empty vector
    raw = rawzk.RawClient(server.host, server.port)
    try:
        raw.connect()
        rep, path, _ = raw.create(base + "/empty-acl", acl=[])
        assert rep.err == rawzk.INVALID_ACL
        assert path is None
        raw.close_session()
    finally:
        raw.drop()
    assert zk.exists(base + "/empty-acl") is None


def test_invalid_acl_in_transaction(zk, base):
    t = zk.transaction()
    t.create(base + "/ok")
    t.create(base + "/bad", acl=[])
    results = t.commit()
    assert type(results[1]) is InvalidACLError
    assert zk.exists(base + "/ok") is None


def test_auth_scheme_without_auth_is_invalid(zk, base):
    with pytest.raises(InvalidACLError):
        zk.create(base + "/a", acl=CREATOR_ALL_ACL)
    assert zk.exists(base + "/a") is None
    zk.create(base + "/b")
    with pytest.raises(InvalidACLError):
        zk.set_acls(base + "/b", CREATOR_ALL_ACL)


def test_auth_scheme_expands_to_digest_ids(make_client, base):
    c = make_client(auth_data=[("digest", "%s:%s" % (USER, PASS))])
    p = base + "/creator"
    c.create(p, b"mine", acl=CREATOR_ALL_ACL)
    acls, _ = c.get_acls(p)
    assert acls == [make_digest_acl(USER, PASS, all=True)]
    stranger = make_client()
    with pytest.raises(NoAuthError):
        stranger.get(p)


@pytest.mark.parametrize(
    "acl",
    [
        ACL(Permissions.ALL, Id("world", "someone")),  # world id must be 'anyone'
        ACL(Permissions.ALL, Id("digest", "no-colon")),  # digest id must be user:hash
        ACL(Permissions.ALL, Id("digest", "a:b:c")),
        ACL(Permissions.ALL, Id("bogus", "x")),  # unknown scheme
        ACL(Permissions.ALL, Id("ip", "not-an-ip")),
        ACL(Permissions.ALL, Id("ip", "10.0.0.1/33")),
        ACL(Permissions.ALL, Id("super", "x")),  # super is not an ACL scheme
    ],
)
def test_invalid_acl_ids(zk, base, acl):
    with pytest.raises(InvalidACLError):
        zk.create(base + "/x", acl=[acl])
    assert zk.exists(base + "/x") is None


def test_ip_acl(zk, base):
    zk.create(base + "/mine", b"m", acl=[make_acl("ip", "127.0.0.1", all=True)])
    assert zk.get(base + "/mine")[0] == b"m"
    zk.create(base + "/net", b"n", acl=[make_acl("ip", "127.0.0.0/8", read=True)])
    assert zk.get(base + "/net")[0] == b"n"
    zk.create(base + "/theirs", b"t", acl=[make_acl("ip", "10.1.2.3", all=True)])
    with pytest.raises(NoAuthError):
        zk.get(base + "/theirs")


def test_zero_perms_accepted_then_denies_everything(zk, base):
    p = base + "/zero"
    zk.create(p, b"z", acl=[ACL(0, Id("world", "anyone"))])
    with pytest.raises(NoAuthError):
        zk.get(p)
    with pytest.raises(NoAuthError):
        zk.set(p, b"x")
    with pytest.raises(NoAuthError):
        zk.create(p + "/c")
    with pytest.raises(NoAuthError):
        zk.get_acls(p)
    assert zk.exists(p).dataLength == 1
    zk.delete(p)  # DELETE is checked on the parent, which is open
    assert zk.exists(p) is None


def test_permission_bits_individually(zk, base):
    p = base + "/bits"
    perms = Permissions.READ | Permissions.CREATE  # no WRITE, DELETE, ADMIN
    zk.create(p, b"d", acl=[ACL(perms, Id("world", "anyone"))])
    assert zk.get(p)[0] == b"d"
    zk.create(p + "/c")  # CREATE on parent
    with pytest.raises(NoAuthError):
        zk.delete(p + "/c")  # DELETE on parent missing
    with pytest.raises(NoAuthError):
        zk.set(p, b"x")
    with pytest.raises(NoAuthError):
        zk.set_acls(p, OPEN_ACL_UNSAFE)
    # the child has its own (open) ACL
    zk.set(p + "/c", b"child")


def test_acl_duplicates_are_removed(zk, base):
    p = base + "/dups"
    zk.create(p, acl=OPEN_ACL_UNSAFE + OPEN_ACL_UNSAFE)
    acls, _ = zk.get_acls(p)
    assert acls == OPEN_ACL_UNSAFE


def test_transaction_needs_permissions(make_client, zk, base):
    p = base + "/ro"
    zk.create(p, b"r", acl=READ_ACL_UNSAFE)
    t = zk.transaction()
    t.create(base + "/allowed")
    t.set_data(p, b"w")
    results = t.commit()
    assert type(results[1]) is NoAuthError
    assert zk.exists(base + "/allowed") is None


def test_auth_unknown_scheme_fails(make_client):
    c = make_client()
    states = []
    c.add_listener(states.append)
    with pytest.raises(AuthFailedError):
        c.add_auth("bogus-scheme", "x")
    # the server closes the connection; kazoo treats AuthFailed as fatal
    wait_for(lambda: not c.connected, timeout=30, what="client disconnected")
    assert KazooState.LOST in states or KazooState.SUSPENDED in states
