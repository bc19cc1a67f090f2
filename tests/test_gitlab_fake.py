"""The fake GitLab itself: payload shapes from the reference samples, GitLab's pagination
headers, auth, admin vs non-admin, refused writes; driven by the real python-gitlab."""

from __future__ import annotations

import json
from pathlib import Path

import gitlab
import pytest
import requests

from fixtures.fake_gitlab import ADMIN_TOKEN, FakeGitLab, GitLabData, demo_instance
from fixtures import SAMPLES as SAMPLES_ROOT

SAMPLES = (SAMPLES_ROOT / "gitlab")


def sample(name: str):
    p = SAMPLES / name
    if not p.exists():
        pytest.skip(f"reference sample {p} not available")
    return json.loads(p.read_text())


@pytest.fixture(scope="module")
def demo():
    with FakeGitLab(demo_instance()) as s:
        yield s


def admin(server) -> gitlab.Gitlab:
    return gitlab.Gitlab(server.url, private_token=ADMIN_TOKEN, retry_transient_errors=False)


def get(server, path: str, token: str = ADMIN_TOKEN, **params) -> requests.Response:
    return requests.get(f"{server.url}/api/v4{path}", params=params,
                        headers={"PRIVATE-TOKEN": token}, timeout=5)


@pytest.mark.parametrize("path,sample_name", [
    ("/users", "users.json"),
    ("/groups", "groups.json"),
    ("/projects", "projects.json"),
    ("/personal_access_tokens", "personal_access_tokens.json"),
    ("/groups/2/members/all", "groups_ID_members_all.json"),
    ("/projects/10/members/all", "projects_ID_members_all.json"),
    ("/projects/10/access_tokens", "projects_ID_access_tokens.json"),
    ("/projects/10/deploy_keys", "projects_ID_deploy_keys.json"),
    ("/projects/11/deploy_tokens", "projects_ID_deploy_tokens.json"),
    ("/projects/10/variables", "projects_ID_variables.json"),
    ("/users/2/keys", "users_ID_keys.json"),
])
def test_payload_keys_follow_the_reference_samples(demo, path, sample_name):
    ref = sample(sample_name)
    got = get(demo, path).json()
    assert got, f"{path} is empty in the demo"
    ref_keys = set().union(*(set(r) for r in ref))
    for item in got:
        # every field we serve exists in the real API, and the fields the real API always
        # sends are there (optional ones, like last_used_at on some token rows, may be absent)
        always = set.intersection(*(set(r) for r in ref))
        assert always <= set(item), f"{path}: missing {always - set(item)}"
        assert set(item) <= ref_keys | {"impersonation"}, f"{path}: unknown {set(item) - ref_keys}"


def test_pagination_headers_and_links_like_gitlab():
    data = GitLabData()
    data.add_user("root", is_admin=True, token=ADMIN_TOKEN)
    for i in range(249):
        data.add_user(f"user{i:03d}")
    with FakeGitLab(data) as s:
        r = get(s, "/users", per_page=100, page=2)
        assert r.headers["X-Page"] == "2" and r.headers["X-Per-Page"] == "100"
        assert r.headers["X-Total"] == "250" and r.headers["X-Total-Pages"] == "3"
        assert r.headers["X-Next-Page"] == "3" and r.headers["X-Prev-Page"] == "1"
        assert 'rel="next"' in r.headers["Link"] and 'rel="last"' in r.headers["Link"]
        assert len(r.json()) == 100
        last = get(s, "/users", per_page=100, page=3)
        assert last.headers["X-Next-Page"] == "" and len(last.json()) == 50
        assert len(get(s, "/users", per_page=500).json()) == 100  # capped like GitLab
        # python-gitlab follows the Link header through every page
        users = admin(s).users.list(get_all=True, per_page=100)
        assert len(users) == 250 and s.count("/api/v4/users") == 3 + 3


def test_unknown_token_is_401_for_python_gitlab(demo):
    gl = gitlab.Gitlab(demo.url, private_token="not-a-token", retry_transient_errors=False)
    with pytest.raises(gitlab.exceptions.GitlabAuthenticationError):
        gl.auth()


def test_non_admin_sees_less(demo):
    bob = "fake-gitlab-bob-token"
    users = get(demo, "/users", token=bob).json()
    assert users and all("email" not in u and "identities" not in u for u in users)
    assert get(demo, "/personal_access_tokens", token=bob, user_id="2").status_code == 403
    own = get(demo, "/personal_access_tokens", token=bob).json()
    assert {t["user_id"] for t in own} == {3}
    assert get(demo, "/users/2/impersonation_tokens", token=bob).status_code == 403
    assert get(demo, "/projects/10/variables", token=bob).status_code == 403  # developer only
    assert get(demo, "/projects/11/variables", token=bob).status_code == 200  # maintainer
    assert get(demo, "/runners/all", token=bob).status_code == 403
    assert get(demo, "/audit_events", token=bob).status_code == 403


def test_writes_are_refused_and_recorded(demo):
    demo.reset_counts()
    gl = admin(demo)
    with pytest.raises(gitlab.exceptions.GitlabCreateError):
        gl.projects.get(10, lazy=True).variables.create({"key": "X", "value": "y"})
    assert len(demo.writes) == 1 and demo.writes[0].method == "POST"


def test_url_encoded_paths_resolve(demo):
    assert get(demo, "/groups/acme%2Fplatform").json()["id"] == 2
    assert get(demo, "/projects/acme%2Fplatform%2Fdeploy").json()["id"] == 10
    assert get(demo, "/groups/nope").status_code == 404
