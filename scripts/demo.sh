#!/usr/bin/env bash
# Run mod_pdshare on a local httpd with the embedded defaults and seed a demo
# producer through the real owner API.
#
#   scripts/demo.sh [start]   build, (re)start the demo httpd on a fresh database, seed it
#   scripts/demo.sh stop      stop the demo httpd this script started
#
#   PDSHARE_PORT=8080                 loopback port
#   PDSHARE_DEMO_DIR=<repo>/demo-run  state: config, SQLite file, htpasswd, logs
#   PDSHARE_SKIP_BUILD=1              use the module already built
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PDSHARE_PORT:-8080}
dir=${PDSHARE_DEMO_DIR:-$repo/demo-run}
httpd=/usr/sbin/apache2
python=/usr/bin/python3
module=$repo/mod_pdshare/.libs/mod_pdshare.so
moddir=/usr/lib/apache2/modules
conf=$dir/httpd.conf
pidfile=$dir/httpd.pid
errlog=$dir/error.log
user=demo
password=demo

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

log_tail() {
    if [ -s "$errlog" ]; then
        printf -- '--- last lines of %s ---\n' "$errlog" >&2
        tail -n 30 "$errlog" >&2
        printf -- '---\n' >&2
    fi
}
die_log() {
    printf 'demo: error: %s\n' "$*" >&2
    log_tail
    if demo_pid >/dev/null; then
        printf 'demo: httpd is left running for a look; stop it with: scripts/demo.sh stop\n' >&2
    fi
    exit 1
}

# The pid in our PidFile, if that process is still an apache2 running our config.
demo_pid() {
    local pid
    [ -s "$pidfile" ] || return 1
    pid=$(tr -dc '0-9' <"$pidfile")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$conf" || return 1
    printf '%s\n' "$pid"
}

stop_demo() {
    local pid
    if ! pid=$(demo_pid); then
        rm -f "$pidfile"
        return 0
    fi
    say "stopping the demo httpd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        die "httpd pid $pid did not stop within 10 s; stop it by hand (kill $pid)"
    fi
    rm -f "$pidfile"
}

# Escape a value for the replacement side of a sed s||| command.
sed_value() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

write_conf() {
    local compiled load_lines="" user_lines="" m
    compiled=$("$httpd" -l)
    for m in mpm_event authz_core authn_core authn_file auth_basic authz_user dbd mime alias dir; do
        if grep -qE "^[[:space:]]*mod_$m\.c\$" <<<"$compiled"; then
            continue
        fi
        [ -f "$moddir/mod_$m.so" ] || die "$moddir/mod_$m.so not found (is apache2 installed?)"
        load_lines+="LoadModule ${m}_module $moddir/mod_$m.so\\n"
    done
    if [ "$(id -u)" -eq 0 ]; then
        user_lines='User www-data\nGroup www-data'
    else
        user_lines='# Not started as root: the children run as the invoking user.'
    fi
    # The two multi-line values hold sed's \n and nothing to escape.
    sed -e "s|@LOAD_MODULES@|$load_lines|" \
        -e "s|@USER_LINES@|$user_lines|" \
        -e "s|@PORT@|$(sed_value "$port")|g" \
        -e "s|@DIR@|$(sed_value "$dir")|g" \
        -e "s|@MODULE@|$(sed_value "$module")|g" \
        -e "s|@HTDOCS@|$(sed_value "$repo/htdocs")|g" \
        -e "s|@REPO@|$(sed_value "$repo")|g" \
        "$repo/conf/demo-httpd.conf.in" >"$conf.tmp"
    if grep -n '@[A-Z_]*@' "$conf.tmp" >&2; then
        die "placeholders left unsubstituted in $conf.tmp (see above)"
    fi
    mv "$conf.tmp" "$conf"
}

# The page at / of the demo server: where to go.
write_index() {
    printf '<!doctype html>\n<meta charset="utf-8">\n<title>mod_pdshare demo</title>\n<h1>mod_pdshare demo</h1>\n%s\n' \
        "$1" >"$dir/www/index.html"
}

# api METHOD PATH [JSON]: call the owner API as the demo producer; the body of the
# answer goes to stdout. Anything but a 2xx answer ends the demo, loudly.
api() {
    local method=$1 path=$2 body=${3:-} status out
    out=$(mktemp)
    local args=(-sS -o "$out" -w '%{http_code}' -u "$user:$password" -X "$method"
                --max-time 30)
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    if ! status=$(curl "${args[@]}" "$api_base$path"); then
        rm -f "$out"
        die_log "$method $api_base$path: the request failed (curl)"
    fi
    case "$status" in
        2??) cat "$out"; rm -f "$out" ;;
        *)
            printf 'demo: error: %s %s answered %s\n' "$method" "$api_base$path" "$status" >&2
            [ -n "$body" ] && printf '  sent:     %s\n' "$body" >&2
            printf '  answered: %s\n' "$(head -c 2000 "$out")" >&2
            rm -f "$out"
            die_log "seeding the demo failed"
            ;;
    esac
}

# json_get FIELD: read a JSON object on stdin and print one top-level field.
json_get() {
    "$python" -c '
import json, sys
field = sys.argv[1]
text = sys.stdin.read()
if not text:
    sys.exit(1)  # the request failed and has said why
try:
    doc = json.loads(text)
except ValueError as e:
    sys.exit("demo: error: the answer is not JSON (%s)" % e)
value = doc.get(field) if isinstance(doc, dict) else None
if value is None or value == "":
    sys.exit("demo: error: no %r in the answer: %s" % (field, json.dumps(doc)[:500]))
print(value)
' "$1"
}

# json_object KEY VALUE ...: a JSON object; a value given as json:TEXT is taken as
# JSON (numbers, objects), any other as a string.
json_object() {
    "$python" -c '
import json, sys
a = sys.argv[1:]
doc = {}
for k, v in zip(a[0::2], a[1::2]):
    doc[k] = json.loads(v[5:]) if v.startswith("json:") else v
print(json.dumps(doc))
' "$@"
}

seed() {
    local profile track_id file_json
    say "seeding through $api_base as $user"

    profile=$(json_object display_name "Demo Producer" \
        theme 'json:{"accent": "#ff5a36", "background": "#111318"}')
    api PUT /profile "$profile" >/dev/null

    # title|bpm|key
    local tracks=("Night Drive|122|F# minor" "Glass Harbour|98|A minor" "Low Sun|140|C major")
    local spec title bpm key first_track=""
    for spec in "${tracks[@]}"; do
        IFS='|' read -r title bpm key <<<"$spec"
        track_id=$(api POST /tracks "$(json_object title "$title" bpm "json:$bpm" \
            key "$key" sharing_status released bucket "Demo EP")" | json_get id)
        [ -n "$first_track" ] || first_track=$track_id
        say "track \"$title\": id $track_id"

        for file_json in \
            "$(json_object category master name "$title (master).wav" format wav \
                dropbox_path "/PRODUCER-DASHBOARD/bounces/$title (master).wav" size json:52428800)" \
            "$(json_object category bounce name "$title.wav" format wav \
                dropbox_path "/PRODUCER-DASHBOARD/bounces/$title.wav" size json:48234496)" \
            "$(json_object category stem name "$title - Drums.wav" format wav \
                dropbox_path "/PRODUCER-DASHBOARD/stems/$title/$title - Drums.wav" size json:31457280)"
        do
            api POST "/tracks/$track_id/files" "$file_json" | json_get id >/dev/null
        done
    done

    api POST "/tracks/$first_track/collaborators" "$(json_object name "Mara Quinn" \
        email "mara@example.com" role "vocals")" | json_get id >/dev/null

    local share
    share=$(api POST /shares '{"bucket": "Demo EP", "expires_in_days": 30, "title": "Demo EP"}')
    share_url=$(json_get url <<<"$share")
}

start_demo() {
    [ -x "$httpd" ] || die "$httpd not found: install apache2 (scripts/install-deps.sh)"
    [ -x "$python" ] || die "$python not found: install python3 (scripts/install-deps.sh)"
    if [ "${PDSHARE_SKIP_BUILD:-0}" != 1 ]; then
        "$repo/scripts/build.sh"
    fi
    [ -f "$module" ] || die "$module not found: the build did not produce the module"

    stop_demo
    mkdir -p "$dir/run" "$dir/www"
    write_index "<p>Seeding the demo&hellip;</p>"
    # A fresh demo every start: the database and logs of the previous run go.
    rm -f "$dir"/pdshare.db "$dir"/pdshare.db-* "$errlog" "$dir/access.log"
    htpasswd -b -c -B "$dir/htpasswd" "$user" "$password" 2>/dev/null ||
        die "htpasswd failed (apache2-utils installed?)"
    write_conf
    if [ "$(id -u)" -eq 0 ]; then
        # The children (www-data) create and write the SQLite file and read htpasswd.
        chown -R www-data:www-data "$dir"
        if ! su -s /bin/sh www-data -c "test -r '$module' && test -r '$repo/htdocs'" 2>/dev/null; then
            die "www-data cannot read $module or $repo/htdocs: make the repository world-readable"
        fi
    fi

    if ! out=$("$httpd" -t -f "$conf" 2>&1); then
        printf '%s\n' "$out" >&2
        die "the generated $conf does not pass 'apache2 -t'"
    fi
    say "starting $httpd on 127.0.0.1:$port"
    if ! out=$("$httpd" -f "$conf" -k start 2>&1); then
        printf '%s\n' "$out" >&2
        die_log "httpd did not start"
    fi

    local ready=0
    for _ in $(seq 1 50); do
        if demo_pid >/dev/null &&
            curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port/"; then
            ready=1
            break
        fi
        sleep 0.2
    done
    if [ "$ready" != 1 ]; then
        [ -n "${out:-}" ] && printf '%s\n' "$out" >&2
        die_log "httpd is not answering on 127.0.0.1:$port (port taken? set PDSHARE_PORT)"
    fi

    api_base=http://127.0.0.1:$port/pd/api
    share_url=""
    seed

    # The page a visitor would open must render.
    local status
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$share_url") || status=000
    [ "$status" = 200 ] || die_log "GET $share_url answered $status, not 200"
    write_index "<p>Share page: <a href=\"$share_url\">$share_url</a></p>"

    cat <<EOF

mod_pdshare demo is running (httpd pid $(demo_pid || echo '?'), 127.0.0.1:$port).

  Share page:     $share_url
  Share as JSON:  $share_url.json
  Owner API:      $api_base   (e.g. curl -u $user:$password $api_base/tracks)
  Credentials:    user "$user", password "$password"
  Error log:      $errlog
  Access log:     $dir/access.log
  Stop it with:   scripts/demo.sh stop

No Dropbox is connected, so the page renders and plays/downloads answer 503.
(demo.sh opened the share page once to check it: that is its first view.)
EOF
}

case "${1:-start}" in
    start) start_demo ;;
    stop) stop_demo; say "stopped" ;;
    -h|--help|help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (use: start, stop)" ;;
esac
