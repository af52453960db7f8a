"""users namespace: get_current_account (dropbox-api.md §4.1)."""

from . import route


def sharing_policies():
    return {"shared_folder_member_policy": {".tag": "anyone"},
            "shared_folder_join_policy": {".tag": "from_anyone"},
            "shared_link_create_policy": {".tag": "default_public"},
            "group_creation_policy": {".tag": "admins_only"},
            "shared_folder_link_restriction_policy": {".tag": "anyone"},
            "enforce_link_password_policy": {".tag": "optional"},
            "default_link_expiration_days_policy": {".tag": "none"},
            "shared_link_default_permissions_policy": {".tag": "default"}}


def full_account(acct):
    d = {
        "account_id": acct.account_id,
        "name": acct.name_json(),
        "email": acct.email,
        "email_verified": acct.email_verified,
        "disabled": acct.disabled,
        "country": acct.country,
        "locale": acct.locale,
        "referral_link": "https://www.dropbox.com/referrals/" + acct.uid,
        "is_paired": False,
        "account_type": {".tag": acct.account_type},
        "root_info": acct.root_info(),
    }
    if acct.team is not None:
        d["team"] = {"id": acct.team.id, "name": acct.team.name,
                     "sharing_policies": sharing_policies(),
                     "office_addin_policy": {".tag": "disabled"},
                     "top_level_content_policy": {".tag": "admin_only"}}
        d["team_member_id"] = acct.team_member_id
    return d


@route("users/get_current_account", void=True, scope="account_info.read", path_root=False)
def get_current_account(ctx, arg):
    return full_account(ctx.account)
