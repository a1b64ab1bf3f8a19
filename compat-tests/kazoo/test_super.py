"""The super user (zoo.cfg DigestAuthenticationProvider.superDigest), which
bypasses every ACL check. ZooKeeper turns the unknown zoo.cfg key into the
system property zookeeper.DigestAuthenticationProvider.superDigest."""

import pytest
from kazoo.exceptions import NoAuthError
from kazoo.security import ACL, Id, make_digest_acl, make_digest_acl_credential

SUPER_PASS = "sup3r"
SERVER_OPTS = {
    "extra_cfg": {"DigestAuthenticationProvider.superDigest": make_digest_acl_credential("super", SUPER_PASS)}
}


def test_super_bypasses_acls(make_client, base):
    owner = make_client(auth_data=[("digest", "bob:pw")])
    p = base + "/locked"
    owner.create(p, b"bob's", acl=[make_digest_acl("bob", "pw", all=True)])
    zero = base + "/zero"
    owner.create(zero, b"z", acl=[ACL(0, Id("world", "anyone"))])

    stranger = make_client()
    with pytest.raises(NoAuthError):
        stranger.get(p)

    admin = make_client(auth_data=[("digest", "super:" + SUPER_PASS)])
    assert admin.get(p)[0] == b"bob's"
    assert admin.get(zero)[0] == b"z"
    admin.set(p, b"changed")
    admin.create(p + "/child")
    # super sees unmasked ACLs and may replace them
    acls, _ = admin.get_acls(p)
    assert acls == [make_digest_acl("bob", "pw", all=True)]
    admin.set_acls(zero, [make_digest_acl("bob", "pw", read=True)])
    assert owner.get(zero)[0] == b"z"
    admin.delete(p + "/child")


def test_wrong_super_password_is_not_super(make_client, zk, base):
    p = base + "/locked"
    zk.add_auth("digest", "carol:pw")
    zk.create(p, acl=[make_digest_acl("carol", "pw", all=True)])
    fake = make_client(auth_data=[("digest", "super:not-the-password")])
    with pytest.raises(NoAuthError):
        fake.get(p)


def test_super_is_not_an_acl_scheme(zk, base):
    from kazoo.exceptions import InvalidACLError

    with pytest.raises(InvalidACLError):
        zk.create(base + "/s", acl=[ACL(31, Id("super", "super"))])
