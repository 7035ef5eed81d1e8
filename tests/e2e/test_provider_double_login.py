"""The provider double's login form (``ProviderBehaviour.login_form``) over real sockets: the
sign-in page, a wrong password, Cancel, the code issued for the user who signed in, and the
form staying off by default."""

from __future__ import annotations

import re
from html import unescape

import httpx
import pytest
from oauth_calls import authorize, exchange, pkce_pair, redirect_params

from tokenward.testing import ProviderBehaviour, ProviderDouble, provider_fixture

USERS = {"alice": "wonderland", "bob": "pässword & <more>"}
provider = provider_fixture(lambda: ProviderBehaviour(login_form=True), users=USERS)


def _hidden(page: str) -> dict[str, str]:
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return {unescape(name): unescape(value) for name, value in fields}


def _submit(provider: ProviderDouble, page: httpx.Response, **fields: str) -> httpx.Response:
    form = {**_hidden(page.text), **fields}
    return httpx.post(f"{provider.url}/authorize", data=form, follow_redirects=False)


def test_authorize_answers_a_login_form_carrying_the_request(provider: ProviderDouble) -> None:
    """GET /authorize: a 200 HTML form posting to /authorize with username and password fields
    and the authorization parameters as hidden fields; no code issued yet."""
    page = authorize(provider, scope="read write")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<form method="post" action="/authorize">' in page.text
    assert 'name="username"' in page.text
    assert 'name="password"' in page.text
    assert _hidden(page.text)["state"] == "st-1"
    assert _hidden(page.text)["scope"] == "read write"
    assert provider.state.codes == {}


def test_signing_in_issues_a_code_for_that_user(provider: ProviderDouble) -> None:
    """The right password: a 302 to the redirect URI with code and state; the grant's subject
    is the user who signed in (a password with non-ASCII characters and markup works)."""
    verifier, challenge = pkce_pair()
    page = authorize(provider, code_challenge=challenge, code_challenge_method="S256")
    answer = redirect_params(_submit(provider, page, username="bob", password=USERS["bob"]))
    assert answer["state"] == "st-1"
    tokens = exchange(provider, answer["code"], code_verifier=verifier).json()
    me = httpx.get(
        f"{provider.url}/api/me", headers={"Authorization": f"Bearer {tokens['access_token']}"}
    )
    assert me.json()["sub"] == "bob"


@pytest.mark.parametrize(("username", "password"), [("alice", "nope"), ("mallory", "x"), ("", "")])
def test_wrong_credentials_show_the_form_again(
    provider: ProviderDouble, username: str, password: str
) -> None:
    """A wrong password or an unknown user: the form again with an error, no redirect, no code."""
    page = authorize(provider)
    again = _submit(provider, page, username=username, password=password)
    assert again.status_code == 200
    assert "Wrong username or password." in again.text
    assert _hidden(again.text) == _hidden(page.text)
    assert provider.state.codes == {}


def test_cancel_answers_access_denied(provider: ProviderDouble) -> None:
    """Cancel: access_denied back to the client, with its state."""
    answer = redirect_params(_submit(provider, authorize(provider), action="deny"))
    assert provider.state.codes == {}
    assert answer == {"error": "access_denied", "state": "st-1"}


def test_deny_authorization_denies_after_the_sign_in(provider: ProviderDouble) -> None:
    """``deny_authorization`` with the form: the user signs in, the provider still declines."""
    provider.behaviour.deny_authorization = True
    page = authorize(provider)
    answer = redirect_params(_submit(provider, page, username="alice", password="wonderland"))
    assert answer["error"] == "access_denied"


def test_a_tampered_redirect_uri_is_never_followed(provider: ProviderDouble) -> None:
    """The hidden fields are checked again on submission: an unregistered redirect_uri is an
    error answer, never a redirect (RFC 6749 §4.1.2.1)."""
    page = authorize(provider)
    response = _submit(
        provider,
        page,
        username="alice",
        password="wonderland",
        redirect_uri="https://evil.example/cb",
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert provider.state.codes == {}


def test_the_form_is_off_by_default() -> None:
    """Without the switch: /authorize redirects back at once and POST /authorize is refused."""
    with ProviderDouble() as double:
        assert authorize(double).status_code == 302
        posted = httpx.post(f"{double.url}/authorize", data={"username": "alice"})
    assert posted.status_code == 405
