#!/usr/bin/python3
"""Profiles of the module's hot routes (bench/profile; not part of `make bench`).

1. perf: httpd (event MPM, SQLite, in-process link cache) under wrk load on one
   route; `perf record -g` on its children; the report by shared object and by
   symbol.
2. callgrind: `httpd -X` (one process) under valgrind --tool=callgrind, N
   requests of one route sent one at a time; callgrind_annotate, exclusive and
   inclusive. Run for the 1-track and the 50-track page, the difference divided
   by 49 is what one more track costs, function by function.

Writes bench/out/profile-*.txt and prints the top of each. Loopback only; only
processes started here are signalled, by pid.

Environment: PROFILE_ROUTES (page10,download10), PROFILE_SECONDS (8),
PROFILE_CALLGRIND_REQUESTS (100), PROFILE_SKIP (perf, callgrind).
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pdshare_bench as bench  # noqa: E402
from pdshare_bench import (OUT, PIN, StandIn, child_pids,  # noqa: E402
                           harness, make_httpd, paths_for, pinned_httpd_wrapper, say, seed, wrk)

ROUTES = [r for r in os.environ.get("PROFILE_ROUTES", "page10,download10,static_file,static_302")
          .split(",") if r]
SECONDS = float(os.environ.get("PROFILE_SECONDS", "8"))
CG_REQUESTS = int(os.environ.get("PROFILE_CALLGRIND_REQUESTS", "100"))
SKIP = {s for s in os.environ.get("PROFILE_SKIP", "").split(",") if s}


def perf_profile(h, path, label):
    pids = child_pids(h.pid)
    data = h.dir / f"perf-{label}.data"
    rec = subprocess.Popen(["perf", "record", "-q", "-F", "997", "-g", "-o", str(data),
                            "-p", ",".join(map(str, pids)), "--", "sleep", str(SECONDS + 1)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    res = wrk(h.base_url + path, SECONDS)
    out, _ = rec.communicate(timeout=120)
    reports = []
    for sort in ["dso", "dso,symbol"]:
        r = subprocess.run(["perf", "report", "-i", str(data), "--stdio", "--no-children",
                            "--sort", sort, "--percent-limit", "0.7", "-g", "none"],
                           capture_output=True, text=True, timeout=300)
        reports.append(f"### perf report --no-children --sort {sort}\n"
                       + "\n".join(l for l in r.stdout.splitlines() if l and not l.startswith("#")))
    text = (f"# perf, {label} ({path}) under wrk -c{bench.CONNS} for {SECONDS:g} s:"
            f" {res['rps']:.0f} req/s, p50 {res['p50']:.2f} ms, p99 {res['p99']:.2f} ms\n\n"
            + "\n\n".join(reports) + "\n")
    return text


def callgrind(h, paths, label, n):
    real = os.environ.get("BENCH_REAL_HTTPD") or "/usr/sbin/apache2"
    h.write_config()
    out_file = h.dir / f"callgrind-{label}.out"
    harness.chown_tree(h.dir)
    # Only what runs inside ap_run_process_connection counts: the requests, from
    # reading them to the last byte out, not httpd's start-up and shutdown.
    # As the User of the children from the start: callgrind writes its file at
    # exit, after httpd has left root.
    as_user = (["setpriv", "--reuid=www-data", "--regid=www-data", "--clear-groups"]
               if harness.is_root() else [])
    proc = subprocess.Popen(as_user + ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}",
                             "--trace-children=no", "--collect-atstart=no",
                             "--toggle-collect=ap_run_process_connection",
                             real, "-X", "-f", str(h.conf_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 180
        while not harness.port_answers(h.port):
            if proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("httpd -X under callgrind did not start: "
                                   + (proc.stderr.read() if proc.poll() is not None else ""))
            time.sleep(0.5)
        s = requests.Session()
        t = time.time()
        for _ in range(n):
            r = s.get(h.base_url + paths[label], allow_redirects=False, timeout=120)
            assert r.status_code in (200, 302), r.status_code
        elapsed = time.time() - t
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=60)
    # The first request also opens the database connection (schema check, every
    # statement prepared): amortised over the n requests, and it cancels out of the
    # per-track difference.
    files = sorted(h.dir.glob(f"callgrind-{label}.out*"))
    return files, elapsed


def annotate(files, inclusive):
    r = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                        "--threshold=99"] + [str(f) for f in files],
                       capture_output=True, text=True, timeout=300)
    return r.stdout


def parse_annotate(text, inclusive):
    """(total, {function: Ir}) from callgrind_annotate output. callgrind_annotate
    lists a function once per source file its code came from: exclusive counts
    are added up, inclusive ones (each the whole call) are not."""
    out = {}
    total = None
    for line in text.splitlines():
        m = re.match(r"^\s*([\d,]+)\s+(?:\([^)]*\)\s+)?(\S.*?)\s*(?:\[([^\]]*)\])?$", line)
        if not m:
            continue
        ir = int(m.group(1).replace(",", ""))
        name = m.group(2)
        if "PROGRAM TOTALS" in name:
            total = ir
            continue
        func = name.rsplit(":", 1)[-1] if ":" in name and not name.startswith("<") else name
        if func.startswith("0x") and m.group(3):
            func = f"{Path(m.group(3)).name}:{func}"
        out[func] = max(out.get(func, 0), ir) if inclusive else out.get(func, 0) + ir
    return total, out


MODULE_FUNCS = ["pdshare_public_handler", "pdshare_ctx", "pds_share_by_token", "pds_page_build",
                "pds_db_select", "pds_db_exec", "pds_profile_get", "pds_track_json",
                "pds_json_pool", "pds_dbx_usable", "page_data", "json_copy", "json_deep_copy",
                "send_html", "pds_tmpl_render", "render_nodes", "pds_html_escape_to",
                "pds_event_record", "redirect_to_file", "pds_dbx_session", "pds_cache_fetch",
                "pds_unseal", "pds_sha256_hex", "json_dumps", "json_delete", "json_pack",
                "set_page_headers", "pds_random_b64url", "apr_dbd_pselect", "apr_dbd_pquery",
                "sqlite3_step", "sqlite3_prepare_v2", "pdshare_dbd_post_connect", "malloc", "free"]


def summary(label, n, excl, incl):
    (total, ex), (_, inc) = excl, incl
    lines = [f"## {label}: {total / n:,.0f} instructions per request (callgrind, {n} requests)",
             "", "inclusive, per request (share of the request):"]
    for f in MODULE_FUNCS:
        if f in inc:
            lines.append(f"  {inc[f] / n:12,.0f}  {100 * inc[f] / total:5.1f} %  {f}")
    lines += ["", "exclusive, top 15:"]
    for f, v in sorted(ex.items(), key=lambda kv: -kv[1])[:15]:
        lines.append(f"  {v / n:12,.0f}  {100 * v / total:5.1f} %  {f}")
    return "\n".join(lines) + "\n"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix="pdshare-profile-"))
    os.environ["BENCH_REAL_HTTPD"] = harness.httpd_bin()
    if PIN:
        os.environ["PDSHARE_HTTPD"] = pinned_httpd_wrapper(tmp)
    standin = StandIn()
    h = None
    try:
        standin.reset()
        h = make_httpd(standin, "profile", [])
        h.start()
        say(f"httpd on {h.base_url}; seeding")
        data = seed(h, standin)
        paths = paths_for(data)
        bench.write_static_copy(h, paths["page10"])
        for k in paths:
            requests.get(h.base_url + paths[k], allow_redirects=False, timeout=30)
        if "perf" not in SKIP:
            for label in [r for r in ROUTES if not r.startswith("static")]:
                say(f"perf: {label}")
                wrk(h.base_url + paths[label], 2)
                text = perf_profile(h, paths[label], label)
                (OUT / f"profile-perf-{label}.txt").write_text(text)
                print(text[:6000])
        h.stop()
        if "callgrind" not in SKIP:
            totals = {}
            for label in sorted(set(ROUTES) | {"page1", "page50"}):
                say(f"callgrind: {label} x {CG_REQUESTS}")
                files, secs = callgrind(h, paths, label, CG_REQUESTS)
                excl = annotate(files, False)
                incl = annotate(files, True)
                (OUT / f"profile-callgrind-{label}.txt").write_text(
                    f"# callgrind, {label} ({paths[label]}) x {CG_REQUESTS}, httpd -X\n\n"
                    "## exclusive\n" + excl + "\n## inclusive\n" + incl)
                totals[label] = (parse_annotate(excl, False), parse_annotate(incl, True))
                text = summary(label, CG_REQUESTS, *totals[label])
                (OUT / f"profile-summary-{label}.txt").write_text(text)
                print(text)
                for f in files:
                    f.unlink()
            if "page1" in totals and "page50" in totals:
                (t1, ex1), _ = totals["page1"]
                (t50, ex50), (_, in50) = totals["page50"]
                (_, in1) = totals["page1"][1]
                lines = ["# one more track: (page50 - page1) / 49, per request, instructions",
                         f"total: page1 {t1 / CG_REQUESTS:,.0f}, page50 {t50 / CG_REQUESTS:,.0f},"
                         f" per extra track {(t50 - t1) / CG_REQUESTS / 49:,.0f}", "",
                         "## exclusive, by function (top 25)"]
                diff = {k: (ex50.get(k, 0) - ex1.get(k, 0)) / CG_REQUESTS / 49
                        for k in set(ex50) | set(ex1)}
                for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:25]:
                    lines.append(f"{v:12,.0f}  {100 * v * 49 * CG_REQUESTS / max(t50 - t1, 1):5.1f} %  {k}")
                lines += ["", "## inclusive, by function (top 40)"]
                diff = {k: (in50.get(k, 0) - in1.get(k, 0)) / CG_REQUESTS / 49
                        for k in set(in50) | set(in1)}
                for k, v in sorted(diff.items(), key=lambda kv: -kv[1])[:40]:
                    lines.append(f"{v:12,.0f}  {100 * v * 49 * CG_REQUESTS / max(t50 - t1, 1):5.1f} %  {k}")
                text = "\n".join(lines) + "\n"
                (OUT / "profile-callgrind-per-track.txt").write_text(text)
                print(text)
    finally:
        if h is not None:
            h.cleanup()
        standin.stop()
        subprocess.run(["rm", "-rf", str(tmp)])
    say(f"written {OUT}/profile-*.txt")


if __name__ == "__main__":
    main()
