"""The lean 303 of GET /authorize writes its Location itself: byte for byte what Starlette's
RedirectResponse (the path that sets a cookie) writes for the same URL."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from starlette.responses import RedirectResponse

from proofkey.web.authorize_endpoint import _location

URL_PIECES = st.sampled_from(["https://app.example/cb", "?", "&", "=", "code", "%41", "%", " ",
                              "é", "✓", "#", "'", "\"", "<", ">", "[", "]", "+", ";", "~",
                              "\\", "^", "`", "{", "|", "}", "com.example.app:/cb"])


@given(st.lists(URL_PIECES, min_size=1, max_size=12))
def test_the_location_matches_what_redirect_response_sends(pieces: list[str]) -> None:
    url = "".join(pieces)
    expected = dict(RedirectResponse(url, status_code=303).raw_headers)[b"location"]
    assert _location(url) == expected
