"""Answers of the real Dropbox that clients tend to miss (issue 14): a token that
expires between two calls of a long job, a root namespace that changes when a
member joins or leaves a team (422 invalid_root on the next call with the old
Dropbox-API-Path-Root), and teams without a team space (root_info "user").

Controls:
  POST /__control/team_membership {account_id, team: {name, home_path?, space?} | null}
      the member joins the team (created when new) or leaves its team; calls with
      the old root then answer 422 invalid_root with the new root info.
Faults (POST /__control/faults): kind "expired_token" expires the caller's access
token and answers 401 expired_access_token; "after": N lets N matching calls through
first (e.g. the token expires between two chunks of an upload session); kind
"cursor_reset" answers list_folder/continue with 409 reset (list again)."""

from .errors import auth_error, route_error
from .state import Team


def expire_caller(handler, st):
    """The expired_token fault: the presented token really expires now."""
    value = handler.headers.get("Authorization") or ""
    tok = value.partition(" ")[2].strip()
    with st.lock:
        t = st.access_tokens.get(tok)
        if t is not None and t.expires_at > st.now():
            t.expires_at = st.now()
    return auth_error("expired_access_token")


def cursor_reset():
    """The cursor_reset fault: list_folder/continue's ListFolderContinueError reset."""
    return route_error({".tag": "reset"})


def _join(st, acct, team):
    if not isinstance(team, dict) or not isinstance(team.get("name", "Team"), str):
        return "team must be null or {name, home_path?, space?}"
    name = team.get("name") or "Team"
    home_path = team.get("home_path") or ("/" + acct.display_name)
    if not isinstance(home_path, str) or not home_path.startswith("/"):
        return "home_path must start with /"
    t = st.teams.get(name)
    if t is None:
        t = Team(st, name)
        st.teams[name] = t
    _leave(acct)
    acct.team = t
    acct.team_space = team.get("space", True) is not False
    acct.team_member_id = acct.team_member_id or "dbmid:" + acct.account_id[5:]
    acct.account_type = "business"
    acct.home_path = home_path
    t.members.append(acct)
    if t.root_ns.root.child(home_path.strip("/").split("/")[-1]) is None:
        acct.home_mount = st.mount_at(t.root_ns, home_path, acct.home_ns)
    return None


def _leave(acct):
    if acct.team is not None and acct in acct.team.members:
        acct.team.members.remove(acct)
    acct.team = None
    acct.team_space = True
    acct.home_path = None
    acct.account_type = "basic"


def handle_control(st, key, data, json_response, bad, account):
    """The controls of this module; None for a key that is not ours."""
    if key != ("POST", "team_membership"):
        return None
    with st.lock:
        acct = account(st, data.get("account_id"))
        if "team" not in data:
            raise bad("team is required: {name, home_path?, space?} to join, null to leave")
        if data["team"] is None:
            _leave(acct)
        else:
            why = _join(st, acct, data["team"])
            if why:
                raise bad(why)
        return json_response({"account": acct.to_json(), "root_info": acct.root_info()})
