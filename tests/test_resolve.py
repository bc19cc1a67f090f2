"""resolve: evidence order, confidence, and the weak local-part match recorded as weak."""

from __future__ import annotations

from scanner.core.model import Account, Credential, Identity
from scanner.resolve import Resolver, resolve, scope_for

ALICE = Identity("alice@example.com", emails=["alice@example.com"], aliases=["github:alice-gh"],
                 status="terminated")
BOB = Identity("bob@example.com", emails=["bob@example.com"])


def acc(system, native, login="", email=None, **attrs):
    return Account(system, f"{system}:t", native, login, email, "user", "active", None, None, attrs)


def links(*accounts, creds=()):
    return {l.account: l for l in resolve([ALICE, BOB], accounts, creds)}


def test_evidence_order():
    a = acc("github", "alice-gh", "alice-gh", email="bob@example.com")
    l = links(a)[a.uid]
    assert (l.identity, l.evidence, l.confidence) == ("alice@example.com", "alias", 1.0)


def test_email_saml_tags_and_weak_local_part():
    by_email = acc("gitlab", "7", "zz", email="BOB@example.com")
    saml = acc("github", "xx", "xx", linked_emails=["alice@example.com"])
    tag = acc("aws", "arn:aws:iam::1:user/x", "x", tags={"email": "bob@example.com"})
    owner = acc("aws", "arn:aws:iam::1:user/bot", "bot", tags={"Owner": "alice@example.com"})
    weak = acc("okta", "00u9", "bob")
    ls = links(by_email, saml, tag, owner, weak)
    assert ls[by_email.uid].evidence == "email"
    assert ls[saml.uid].evidence == "external_email" and ls[saml.uid].identity == "alice@example.com"
    assert ls[tag.uid].evidence == "tag:email"
    assert ls[owner.uid].relation == "owns" and ls[owner.uid].identity == "alice@example.com"
    assert (ls[weak.uid].evidence, ls[weak.uid].confidence) == ("login~localpart", 0.4)


def test_same_ssh_key_links_an_unlinked_account():
    linked = acc("github", "alice-gh", "alice-gh")
    other = acc("gitlab", "42", "a.archer")
    creds = [Credential("github", "github:t", "k1", "ssh_key", holder=linked.uid, fingerprint="SHA256:abc"),
             Credential("gitlab", "gitlab:t", "k2", "ssh_key", holder=other.uid, fingerprint="SHA256:abc")]
    ls = links(linked, other, creds=creds)
    assert ls[other.uid].evidence == "ssh_key" and ls[other.uid].identity == "alice@example.com"


def test_unlinked_account_is_unowned():
    assert links(acc("github", "stranger", "stranger")) == {}


def test_find_by_email_alias_or_id():
    r = Resolver([ALICE, BOB])
    assert r.find("ALICE@example.com") is ALICE
    assert r.find("alice-gh") is ALICE and r.find("github:alice-gh") is ALICE
    assert r.find("nobody") is None


def test_scope_has_leavers_and_unowned_not_active_people():
    a, b, u = acc("aws", "arn:a", "alice-gh"), acc("aws", "arn:b", "bob"), acc("aws", "arn:u", "u")
    a.system = "github"
    ls = resolve([ALICE, BOB], [a, b, u])
    s = scope_for([ALICE, BOB], [a, b, u], ls)
    assert a.uid in s.accounts and u.uid in s.accounts and b.uid not in s.accounts
    only = scope_for([ALICE, BOB], [a, b, u], ls, only={"bob@example.com"})
    assert only.accounts == {b.uid}


def test_alias_with_a_system_that_contains_a_colon():
    slack = Identity("carol@example.com", aliases=["scim:slack:cchen"])
    a = Account("scim:slack", "scim:slack", "u-9", "cchen", None, "user", "active", None, None, {})
    (l,) = resolve([slack], [a])
    assert (l.identity, l.evidence) == ("carol@example.com", "alias")
