#!/usr/bin/env bash
# Run mod_pdshare on a local httpd with the embedded defaults, connected to the
# Dropbox stand-in (tests/dropbox_standin), and seed a demo producer through the
# real OAuth flow and the real owner API: small playable WAVs in "Dropbox", a share.
#
#   scripts/demo.sh [start]   build, (re)start the stand-in and the demo httpd on a
#                             fresh database, connect, seed, check the share plays
#   scripts/demo.sh stop      stop the demo httpd and the stand-in this script started
#
#   PDSHARE_PORT=8080                 httpd's loopback port
#   PDSHARE_DROPBOX_PORT=8081         the Dropbox stand-in's loopback port
#   PDSHARE_DEMO_DIR=<repo>/demo-run  state: config, SQLite file, keys, WAVs, logs
#   PDSHARE_SKIP_BUILD=1              use the module already built
#   PDSHARE_SKIP_DEPS=1               do not run scripts/install-deps.sh
#   PDSHARE_HTTPD=/usr/sbin/apache2   the httpd binary to run
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
port=${PDSHARE_PORT:-8080}
dbx_port=${PDSHARE_DROPBOX_PORT:-8081}
dir=${PDSHARE_DEMO_DIR:-$repo/demo-run}
httpd=${PDSHARE_HTTPD:-/usr/sbin/apache2}
python=/usr/bin/python3
module=$repo/mod_pdshare/.libs/mod_pdshare.so
moddir=/usr/lib/apache2/modules
conf=$dir/httpd.conf
pidfile=$dir/httpd.pid
errlog=$dir/error.log
user=demo
password=demo

# The Dropbox stand-in: its process, and the app and account the demo uses there.
dbx_url=http://127.0.0.1:$dbx_port
standin_pidfile=$dir/standin.pid
standin_portfile=$dir/run/standin.port
standin_log=$dir/standin.log
app_key=pdsharedemo
data_key=$dir/data.key
app_secret_file=$dir/dropbox-app.secret
dbx_email=demo@example.com
dbx_name="Demo Producer"
audio=$dir/audio

# Everything here talks to loopback: never through a proxy (curl and httpd's libcurl).
export no_proxy="${no_proxy:+$no_proxy,}127.0.0.1" NO_PROXY="${NO_PROXY:+$NO_PROXY,}127.0.0.1"

say() { printf 'demo: %s\n' "$*"; }
die() { printf 'demo: error: %s\n' "$*" >&2; exit 1; }

log_tail() {
    local log=$1
    if [ -s "$log" ]; then
        printf -- '--- last lines of %s ---\n' "$log" >&2
        tail -n 30 "$log" >&2
        printf -- '---\n' >&2
    fi
}
# die_log MESSAGE: die, with the tails of httpd's error log and the stand-in's log.
die_log() {
    printf 'demo: error: %s\n' "$*" >&2
    log_tail "$errlog"
    log_tail "$standin_log"
    if demo_pid >/dev/null || standin_pid >/dev/null; then
        printf 'demo: the servers are left running for a look; stop them with: scripts/demo.sh stop\n' >&2
    fi
    exit 1
}

# our_pid PIDFILE NEEDLE...: the pid in PIDFILE, if that process is still running
# and its command line holds every NEEDLE (so a recycled pid is never taken for ours).
our_pid() {
    local file=$1 pid cmdline needle
    shift
    [ -s "$file" ] || return 1
    pid=$(tr -dc '0-9' <"$file")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    for needle in "$@"; do
        [[ $cmdline == *"$needle"* ]] || return 1
    done
    printf '%s\n' "$pid"
}
# The pid in our PidFile, if that process is still an apache2 running our config.
demo_pid() { our_pid "$pidfile" "$conf"; }
# The pid of the stand-in this script started, if it still runs.
standin_pid() { our_pid "$standin_pidfile" dropbox_standin "$standin_portfile"; }

# stop_pid WHAT PID: SIGTERM, then up to 10 s for it to go.
stop_pid() {
    local what=$1 pid=$2
    say "stopping the $what (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    printf 'demo: error: the %s (pid %s) did not stop within 10 s; stop it by hand (kill %s)\n' \
        "$what" "$pid" "$pid" >&2
    return 1
}

stop_demo() {
    local pid
    if pid=$(demo_pid); then
        stop_pid httpd "$pid" || return 1
    fi
    rm -f "$pidfile"
}

stop_standin() {
    local pid
    if pid=$(standin_pid); then
        stop_pid "Dropbox stand-in" "$pid" || return 1
    fi
    rm -f "$standin_pidfile" "$standin_portfile"
}

# Both, even when the first one fails.
stop_all() {
    local rc=0
    stop_demo || rc=1
    stop_standin || rc=1
    return "$rc"
}

# Escape a value for the replacement side of a sed s||| command.
sed_value() { printf '%s' "$1" | sed -e 's/[\\&|]/\\&/g'; }

write_conf() {
    local compiled load_lines="" user_lines="" m
    compiled=$("$httpd" -l)
    for m in mpm_event authz_core authn_core authn_file auth_basic authz_user dbd mime alias dir headers reqtimeout filter deflate; do
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
        -e "s|@DROPBOX_APP_KEY@|$(sed_value "$app_key")|g" \
        -e "s|@DROPBOX_URL@|$(sed_value "$dbx_url")|g" \
        "$repo/conf/demo-httpd.conf.in" >"$conf.tmp"
    if grep -n '@[A-Z_]*@' "$conf.tmp" >&2; then
        die "placeholders left unsubstituted in $conf.tmp (see above)"
    fi
    mv "$conf.tmp" "$conf"
}

# The data key and the app secret: fresh for every start (so is the database that
# holds what the key seals), mode 0400, owned by whoever starts httpd (root: httpd
# reads them with its configuration, before its children give up root).
write_secrets() {
    (
        umask 077
        head -c 32 /dev/urandom >"$data_key"
        printf '%s\n' "$app_secret" >"$app_secret_file"
    )
    chmod 0400 "$data_key" "$app_secret_file"
}

# The page at / of the demo server: where to go.
write_index() {
    printf '<!doctype html>\n<meta charset="utf-8">\n<title>mod_pdshare demo</title>\n<h1>mod_pdshare demo</h1>\n%s\n' \
        "$1" >"$dir/www/index.html"
}

# request NAME BASE METHOD PATH [BODY] [CURL ARGS...]: one JSON call; the body of
# the answer goes to stdout. A BODY of @FILE is read from FILE (curl's syntax).
# Anything but a 2xx answer ends the demo, loudly.
request() {
    local name=$1 base=$2 method=$3 path=$4 body=$5 status out
    shift 5
    out=$tmp/answer
    local args=(-sS -o "$out" -w '%{http_code}' -X "$method" --max-time 30 "$@")
    if [ -n "$body" ]; then
        args+=(-H 'Content-Type: application/json' --data-binary "$body")
    fi
    if ! status=$(curl "${args[@]}" "$base$path"); then
        die_log "$name: $method $base$path: the request failed (curl)"
    fi
    case "$status" in
        2??) cat "$out" ;;
        *)
            printf 'demo: error: %s: %s %s answered %s\n' "$name" "$method" "$base$path" "$status" >&2
            if [ -n "$body" ]; then
                printf '  sent:     %s\n' "$(head -c 300 <<<"$body")" >&2
            fi
            printf '  answered: %s\n' "$(head -c 2000 "$out")" >&2
            die_log "seeding the demo failed"
            ;;
    esac
}

# api METHOD PATH [JSON]: the owner API, as the demo producer.
api() { request "owner API" "$api_base" "$1" "$2" "${3:-}" -u "$user:$password"; }

# ctl METHOD ROUTE [JSON|@FILE]: the stand-in's control API (bodies always JSON).
ctl() {
    local body=${3:-'{}'}
    request "stand-in control" "$dbx_url/__control/" "$1" "$2" "$body"
}

# redirect URL [CURL ARGS...]: GET without following; prints "STATUS LOCATION"
# (the Location header as sent, "-" when there is none). The body of the answer
# is left in $tmp/answer.
redirect() {
    local url=$1 status location
    shift
    if ! status=$(curl -sS -o "$tmp/answer" -D "$tmp/headers" -w '%{http_code}' \
        --max-time 30 "$@" "$url"); then
        die_log "GET $url: the request failed (curl)"
    fi
    location=$(tr -d '\r' <"$tmp/headers" | sed -n 's/^[Ll][Oo][Cc][Aa][Tt][Ii][Oo][Nn]: *//p' | tail -n 1)
    printf '%s %s\n' "$status" "${location:--}"
}

# fetch URL FILE: GET, following nothing, into FILE; prints "STATUS CONTENT-TYPE".
fetch() {
    local out
    if ! out=$(curl -sS -o "$2" -w '%{http_code} %{content_type}' --max-time 60 "$1"); then
        die_log "GET $1: the request failed (curl)"
    fi
    printf '%s\n' "$out"
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
print(json.dumps(value) if isinstance(value, bool) else value)
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

# wav FILE HZ SECONDS [BPM]: a sine tone, 44.1 kHz 16-bit mono, faded in and out;
# with BPM, a decaying hit on every beat instead of a steady tone.
wav() {
    "$python" -c '
import array, math, sys, wave
out, hz, secs = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
bpm = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
rate = 44100
n = int(rate * secs)
fade = rate // 50
beat = int(rate * 60 / bpm) if bpm else 0
samples = array.array("h")
for i in range(n):
    env = min(1.0, i / fade, (n - 1 - i) / fade)
    if beat:
        env *= math.exp(-8.0 * (i % beat) / beat)
    samples.append(int(0.45 * 32767 * env * math.sin(2 * math.pi * hz * i / rate)))
if sys.byteorder != "little":
    samples.byteswap()
with wave.open(out, "wb") as w:
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(rate)
    w.writeframes(samples.tobytes())
' "$@"
}

# put_file DROPBOX_PATH LOCAL_FILE: the file's bytes into the demo account's Dropbox.
put_file() {
    "$python" -c '
import base64, json, sys
account, path, local, out = sys.argv[1:]
with open(local, "rb") as f:
    data = base64.b64encode(f.read()).decode()
with open(out, "w") as f:
    json.dump({"account_id": account, "path": path, "content_b64": data}, f)
' "$account_id" "$1" "$2" "$tmp/upload.json"
    ctl POST files "@$tmp/upload.json" >/dev/null
}

start_standin() {
    local pid runas=()
    rm -f "$standin_portfile" "$standin_portfile.tmp"
    if [ "$(id -u)" -eq 0 ]; then
        # No need for root: the stand-in runs as the children of httpd do.
        runas=(setpriv --reuid=www-data --regid=www-data --clear-groups --)
    fi
    say "starting the Dropbox stand-in on 127.0.0.1:$dbx_port"
    # setsid: its own session, so a Ctrl-C of this script leaves it be. In a
    # non-interactive shell the subshell leads no process group, so setsid (like
    # setpriv and exec) keeps the pid: $! is the stand-in's.
    (
        cd "$repo/tests"
        exec setsid "${runas[@]}" "$python" -B -m dropbox_standin --host 127.0.0.1 \
            --port "$dbx_port" --port-file "$standin_portfile"
    ) </dev/null >"$standin_log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" >"$standin_pidfile"
    for _ in $(seq 1 100); do
        [ -s "$standin_portfile" ] && break
        standin_pid >/dev/null || break  # exited (a zombie has no command line)
        sleep 0.1
    done
    if ! standin_pid >/dev/null; then
        rm -f "$standin_pidfile"
        log_tail "$standin_log"
        die "the Dropbox stand-in exited (port $dbx_port taken? set PDSHARE_DROPBOX_PORT)"
    fi
    if [ "$(cat "$standin_portfile" 2>/dev/null)" != "$dbx_port" ]; then
        log_tail "$standin_log"
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        rm -f "$standin_pidfile"
        die "the Dropbox stand-in (pid $pid) was not listening on $dbx_port after 10 s; stopped it"
    fi
}

# The stand-in's side: a clean state, the demo's app, and its Dropbox account.
setup_standin() {
    ctl POST reset >/dev/null
    ctl POST apps "$(json_object client_id "$app_key" client_secret "$app_secret")" >/dev/null
    account_id=$(ctl POST accounts "$(json_object email "$dbx_email" display_name "$dbx_name" \
        team json:null)" | json_get account_id)
    say "stand-in: app \"$app_key\", personal account $dbx_email ($account_id)"
}

# Connect the demo producer as a browser would: connect -> the stand-in's authorize
# page -> the module's callback -> back to the owner API.
connect_dropbox() {
    local r status location
    ctl POST next_account "$(json_object account_id "$account_id")" >/dev/null

    # The owner page POSTs (JSON) for the authorize URL, then goes there.
    location=$(api POST /dropbox/connect '{}' | json_get authorize_url) ||
        die_log "POST $api_base/dropbox/connect gave no authorize_url"
    [[ $location == "$dbx_url/oauth2/authorize?"* ]] ||
        die_log "POST $api_base/dropbox/connect answered $location, not $dbx_url/oauth2/authorize"
    say "connect: POST /pd/api/dropbox/connect -> 200, the stand-in's authorize page"

    r=$(redirect "$location")
    read -r status location <<<"$r"
    [ "$status" = 302 ] || die_log "the stand-in's authorize page answered $status, not 302: $(head -c 500 "$tmp/answer")"
    [[ $location == "$api_base/dropbox/callback?"* ]] ||
        die_log "the stand-in's authorize page sent to $location, not to $api_base/dropbox/callback"
    say "connect: GET $dbx_url/oauth2/authorize -> $status, to the module's callback"

    r=$(redirect "$location" -u "$user:$password")
    read -r status location <<<"$r"
    [ "$status" = 302 ] || die_log "GET $api_base/dropbox/callback answered $status, not 302: $(head -c 500 "$tmp/answer")"
    [[ $location == *"dropbox=connected"* ]] ||
        die_log "GET $api_base/dropbox/callback sent back to $location (not connected)"
    say "connect: GET /pd/api/dropbox/callback -> $status, back to $location"

    local state connected token_status
    state=$(api GET /dropbox)
    connected=$(json_get connected <<<"$state")
    token_status=$(json_get token_status <<<"$state" 2>/dev/null) || token_status=none
    if [ "$connected" != true ] || [ "$token_status" != ok ]; then
        die_log "GET $api_base/dropbox after connecting: $state"
    fi
    say "GET /pd/api/dropbox: connected, $(json_get account_type <<<"$state") account $(json_get email <<<"$state"), folder $(json_get folder_path <<<"$state")"
}

# add_file TRACK_ID CATEGORY DROPBOX_PATH HZ SECONDS [BPM]: a WAV made here, put into
# the stand-in at DROPBOX_PATH, registered through the owner API; prints its id.
add_file() {
    local track_id=$1 category=$2 path=$3 name file size
    shift 3
    name=${path##*/}
    file=$audio/${path#/PRODUCER-DASHBOARD/}
    mkdir -p "${file%/*}"
    wav "$file" "$@"
    put_file "$path" "$file"
    size=$(stat -c %s "$file")
    api POST "/tracks/$track_id/files" "$(json_object category "$category" name "$name" \
        format wav dropbox_path "$path" size "json:$size")" | json_get id
}

seed() {
    local profile track_id
    say "seeding through $api_base as $user"

    profile=$(json_object display_name "Demo Producer" \
        theme 'json:{"accent": "#ff5a36", "background": "#111318"}')
    api PUT /profile "$profile" >/dev/null

    # title|bpm|key|root (Hz): each track its own pitches.
    local tracks=("Night Drive|122|F# minor|185.00" "Glass Harbour|98|A minor|220.00"
                  "Low Sun|140|C major|261.63")
    local spec title bpm key hz bounces stems id
    for spec in "${tracks[@]}"; do
        IFS='|' read -r title bpm key hz <<<"$spec"
        track_id=$(api POST /tracks "$(json_object title "$title" bpm "json:$bpm" \
            key "$key" sharing_status released bucket "Demo EP")" | json_get id)
        say "track \"$title\": id $track_id"

        bounces=/PRODUCER-DASHBOARD/bounces/$title
        stems=/PRODUCER-DASHBOARD/stems/$title
        add_file "$track_id" master "$bounces/$title (master).wav" "$hz" 4 >/dev/null
        add_file "$track_id" bounce "$bounces/$title.wav" \
            "$("$python" -c 'import sys; print(float(sys.argv[1]) * 1.5)' "$hz")" 3 >/dev/null
        id=$(add_file "$track_id" stem "$stems/$title - Drums.wav" \
            "$("$python" -c 'import sys; print(float(sys.argv[1]) / 4)' "$hz")" 2 "$bpm")
        if [ -z "$first_track" ]; then
            # The checks after seeding: this track's preview (its master), this stem.
            first_track=$track_id
            play_local="$audio/bounces/$title/$title (master).wav"
            check_file_id=$id
            check_file_local="$audio/stems/$title/$title - Drums.wav"
        fi
        add_file "$track_id" stem "$stems/$title - Bass.wav" \
            "$("$python" -c 'import sys; print(float(sys.argv[1]) / 2)' "$hz")" 2 >/dev/null
        add_file "$track_id" stem "$stems/$title - Keys.wav" \
            "$("$python" -c 'import sys; print(float(sys.argv[1]) * 2)' "$hz")" 2 >/dev/null
    done
    first_stems=$audio/stems/${tracks[0]%%|*}

    api POST "/tracks/$first_track/collaborators" "$(json_object name "Mara Quinn" \
        email "mara@example.com" role "vocals")" | json_get id >/dev/null

    local share
    share=$(api POST /shares '{"bucket": "Demo EP", "expires_in_days": 30, "title": "Demo EP"}')
    share_url=$(json_get url <<<"$share")
}

# What a visitor gets: the page, a preview, a download, the stems ZIP. Each answer
# is checked, bytes included, before the URL is printed.
verify() {
    local r status ctype location
    status=$(fetch "$share_url" "$tmp/page.html" | cut -d' ' -f1)
    [ "$status" = 200 ] || die_log "GET $share_url answered $status, not 200"
    if grep -q 'Downloads are unavailable' "$tmp/page.html"; then
        die_log "GET $share_url says downloads are unavailable"
    fi
    grep -qF "/zip/$first_track/stems" "$tmp/page.html" ||
        die_log "GET $share_url: no stems ZIP link for track $first_track on the page"
    checks=("GET $share_url -> $status")

    # play: a redirect to a temporary link, which serves the WAV.
    r=$(redirect "$share_url/play/$first_track")
    read -r status location <<<"$r"
    [ "$status" = 302 ] || die_log "GET $share_url/play/$first_track answered $status, not 302: $(head -c 500 "$tmp/answer")"
    checks+=("GET $share_url/play/$first_track -> $status")
    r=$(fetch "$location" "$tmp/play")
    read -r status ctype <<<"$r"
    [ "$status" = 200 ] || die_log "the preview's link $location answered $status, not 200"
    [ "$(head -c 4 "$tmp/play")" = RIFF ] || die_log "the preview's link $location did not give a WAV"
    cmp -s "$tmp/play" "$play_local" ||
        die_log "the preview's link $location gave other bytes than $play_local"
    checks+=("  followed: $location -> $status $ctype, $(stat -c %s "$tmp/play") bytes, RIFF, same bytes as put")

    # a download: a redirect to a temporary link, which serves the file.
    r=$(redirect "$share_url/files/$check_file_id")
    read -r status location <<<"$r"
    [ "$status" = 302 ] || die_log "GET $share_url/files/$check_file_id answered $status, not 302: $(head -c 500 "$tmp/answer")"
    checks+=("GET $share_url/files/$check_file_id -> $status")
    r=$(fetch "$location" "$tmp/file")
    read -r status ctype <<<"$r"
    [ "$status" = 200 ] || die_log "the download's link $location answered $status, not 200"
    [ "$(head -c 4 "$tmp/file")" = RIFF ] || die_log "the download's link $location did not give a WAV"
    cmp -s "$tmp/file" "$check_file_local" ||
        die_log "the download's link $location gave other bytes than $check_file_local"
    checks+=("  followed: $location -> $status $ctype, $(stat -c %s "$tmp/file") bytes, RIFF, same bytes as put")

    # the stems ZIP, streamed through httpd.
    r=$(fetch "$share_url/zip/$first_track/stems" "$tmp/stems.zip")
    read -r status ctype <<<"$r"
    if [ "$status" != 200 ] || [ "$ctype" != application/zip ]; then
        die_log "GET $share_url/zip/$first_track/stems answered $status $ctype, not 200 application/zip"
    fi
    local entries
    if ! entries=$("$python" -c '
import os, sys, zipfile
path, stems = sys.argv[1:]
want = sorted(os.listdir(stems))
got = {}
with zipfile.ZipFile(path) as z:
    bad = z.testzip()
    if bad:
        sys.exit("%s is corrupt in the ZIP" % bad)
    for i in z.infolist():
        if not i.is_dir():
            got[os.path.basename(i.filename)] = z.read(i)
if sorted(got) != want:
    sys.exit("the ZIP holds %s, not %s" % (sorted(got), want))
for name in want:
    with open(os.path.join(stems, name), "rb") as f:
        if f.read() != got[name]:
            sys.exit("%s in the ZIP differs from what was put" % name)
print(len(want))
' "$tmp/stems.zip" "$first_stems"); then
        die_log "GET $share_url/zip/$first_track/stems: the ZIP is not right (see above)"
    fi
    checks+=("GET $share_url/zip/$first_track/stems -> $status $ctype, $(stat -c %s "$tmp/stems.zip") bytes, $entries stems, same bytes as put")
}

start_demo() {
    # First what a fresh machine lacks (apache2 among it), then the checks.
    if [ "${PDSHARE_SKIP_DEPS:-0}" != 1 ]; then
        "$repo/scripts/install-deps.sh" || die "installing the packages failed (see above)"
    fi
    [ -x "$httpd" ] || die "$httpd not found: install apache2 (scripts/install-deps.sh)"
    [ -x "$python" ] || die "$python not found: install python3 (scripts/install-deps.sh)"
    if ! [[ $port =~ ^[0-9]+$ && $dbx_port =~ ^[0-9]+$ ]] || [ "$port" = "$dbx_port" ]; then
        die "PDSHARE_PORT ($port) and PDSHARE_DROPBOX_PORT ($dbx_port) must be two different port numbers"
    fi
    if [ "${PDSHARE_SKIP_BUILD:-0}" != 1 ]; then
        PDSHARE_SKIP_DEPS=1 "$repo/scripts/build.sh"
    fi
    [ -f "$module" ] || die "$module not found: the build did not produce the module"

    stop_all || die "a server of the previous demo did not stop (see above)"
    mkdir -p "$dir/run" "$dir/www"
    write_index "<p>Seeding the demo&hellip;</p>"
    # A fresh demo every start: the database, keys, files and logs of the previous run go.
    rm -rf "$audio"
    rm -f "$dir"/pdshare.db "$dir"/pdshare.db-* "$errlog" "$dir/access.log" "$standin_log" \
        "$data_key" "$app_secret_file"
    htpasswd -b -c -B "$dir/htpasswd" "$user" "$password" 2>/dev/null ||
        die "htpasswd failed (apache2-utils installed?)"
    write_conf
    if [ "$(id -u)" -eq 0 ]; then
        # The children (www-data) create and write the SQLite file and read htpasswd.
        chown -R www-data:www-data "$dir"
        if ! su -s /bin/sh www-data -c "test -r '$module' && test -r '$repo/htdocs' && test -r '$repo/tests/dropbox_standin/__main__.py'" 2>/dev/null; then
            die "www-data cannot read $module, $repo/htdocs or $repo/tests: make the repository world-readable"
        fi
        # It must also reach the state directory: every directory above it searchable.
        if ! su -s /bin/sh www-data -c "test -w '$dir' && test -w '$dir/run'" 2>/dev/null; then
            die "www-data cannot write $dir (a directory above it is closed to others?): set PDSHARE_DEMO_DIR to a directory www-data can reach"
        fi
    fi
    # After the chown: these stay the starting user's (root's), mode 0400.
    app_secret=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
    write_secrets
    mkdir -p "$audio"

    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT

    start_standin
    setup_standin

    if ! out=$("$httpd" -t -f "$conf" 2>&1); then
        printf '%s\n' "$out" >&2
        die_log "the generated $conf does not pass 'apache2 -t'"
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
    first_track=""
    connect_dropbox
    seed
    verify
    write_index "<p>Share page: <a href=\"$share_url\">$share_url</a></p>"

    printf '\ndemo: checked before printing this:\n'
    printf '  %s\n' "${checks[@]}"
    cat <<EOF

mod_pdshare demo is running (httpd pid $(demo_pid || echo '?') on 127.0.0.1:$port,
Dropbox stand-in pid $(standin_pid || echo '?') on 127.0.0.1:$dbx_port).

  Share page:     $share_url
  Share as JSON:  $share_url.json
  Owner pages:    http://127.0.0.1:$port/pd/app/   (Connected accounts, share links, collaborators)
  Owner API:      $api_base   (e.g. curl -u $user:$password $api_base/tracks)
  Credentials:    user "$user", password "$password"
  Dropbox:        the stand-in at $dbx_url (control API: $dbx_url/__control/accounts)
                  plays Dropbox; the demo producer is connected to its personal
                  account $dbx_email through the real OAuth flow.
  Logs:           $errlog, $dir/access.log, $standin_log
  Stop it with:   scripts/demo.sh stop

Try: open the share page and press play on a track (a few seconds of sine tone,
fetched from the stand-in through a temporary link), download a file, and
download a track's stems as a ZIP (streamed from the stand-in through httpd).
The WAVs put into the stand-in are also in $audio.
(demo.sh opened the share page, played, downloaded and zipped once to check them:
those are its first view, play and downloads.)
EOF
}

case "${1:-start}" in
    start) start_demo ;;
    stop)
        stop_all || die "not everything stopped (see above)"
        say "stopped"
        ;;
    -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
    *) die "unknown command '$1' (use: start, stop)" ;;
esac
