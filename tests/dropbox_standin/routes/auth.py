"""auth namespace: token/revoke (dropbox-api.md §2)."""

from . import route


@route("auth/token/revoke", void=True, scope=None, path_root=False)
def token_revoke(ctx, arg):
    """Disable the calling token; when it came from a refresh token, also that refresh
    token and every access token issued from it. Result: null."""
    st = ctx.state
    tok = ctx.token
    tok.revoked = True
    if tok.refresh is not None:
        tok.refresh.revoked = True
        for t in st.access_tokens.values():
            if t.refresh is tok.refresh:
                t.revoked = True
    return None
