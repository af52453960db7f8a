#!/usr/bin/python3
"""The library's include rules (make check; README "Development").

  scripts/check-includes.py [DIR]     check DIR (default: mod_pdshare/ of this tree)
  scripts/check-includes.py --self-test

A library file is pds.h, pds_*.c or pds_*.h in DIR; the glue (mod_pdshare*) and
pdsharectl.c are not checked. It fails (exit 1) when

1. a library file includes an httpd header: httpd.h, http_*.h, ap_*.h,
   util_*.h, mod_*.h, mpm*.h, scoreboard.h, unixd.h, ap_config*.h. APR and
   apr-util (apr*.h, apu*.h, apr_memcache.h and apr_dbd.h among them) are
   allowed: they are what the library is built on, and pdsharectl and the
   unit tests link them without a server;
2. library units include each other in a cycle. A unit is X.c with X.h; a
   header X_int.h belongs to unit X, and so does every .c that includes it
   (pds_collab_files.c is part of pds_collab). Unit A depends on unit B when
   a file of A includes a header of B.
"""
import os
import re
import subprocess
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
LIBRARY = re.compile(r'^pds(_\w+)?\.[ch]$')
HTTPD = re.compile(r'^(httpd\.h|http_.*\.h|ap_.*\.h|util_.*\.h|mod_.*\.h|mpm.*\.h|'
                   r'scoreboard\.h|unixd\.h)$')


def includes(path):
    with open(path, encoding='utf-8', errors='replace') as f:
        text = f.read()
    # Comments may quote an include; drop them first.
    text = re.sub(r'/\*.*?\*/', '', text, flags=re.S)
    text = re.sub(r'//[^\n]*', '', text)
    return [(m.group(1), m.group(2)) for m in INCLUDE.finditer(text)]


def library_files(d):
    return sorted(f for f in os.listdir(d) if LIBRARY.match(f))


def units(d, files):
    """file name -> unit name."""
    unit = {}
    for f in files:
        stem = f[:-2]
        unit[f] = stem[:-4] if f.endswith('_int.h') else stem
    for f in files:
        if f.endswith('.c'):
            for _, inc in includes(os.path.join(d, f)):
                base = os.path.basename(inc)
                if base.endswith('_int.h') and base in unit:
                    unit[f] = unit[base]
    return unit


def cycles(graph):
    """Strongly connected components with more than one unit (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def check(d):
    files = library_files(d)
    unit = units(d, files)
    problems = []
    graph = {u: set() for u in unit.values()}
    why = {}
    for f in files:
        for kind, inc in includes(os.path.join(d, f)):
            base = os.path.basename(inc)
            if HTTPD.match(base):
                problems.append('%s includes the httpd header %s: the library must build '
                                'without httpd (glue belongs in mod_pdshare*.c)' % (f, inc))
            if kind == '"' and base in unit and unit[base] != unit[f]:
                graph[unit[f]].add(unit[base])
                why.setdefault((unit[f], unit[base]), '%s includes %s' % (f, base))
    for comp in cycles(graph):
        members = set(comp)
        edges = sorted(v for k, v in why.items() if k[0] in members and k[1] in members)
        problems.append('include cycle among the units %s:\n    %s'
                        % (', '.join(comp), '\n    '.join(edges)))
    for p in problems:
        print('check-includes: ' + p)
    if not problems:
        print('check-includes: %d library files in %s, no httpd header, no include cycle'
              % (len(files), d))
    return 1 if problems else 0


def self_test():
    """The check on small trees made here: it must pass a clean one and fail each fault."""
    cases = {
        'clean': ({'pds.h': '#include <apr_pools.h>\n',
                   'pds_a.h': '#include "pds.h"\n#include <apr_memcache.h>\n',
                   'pds_a.c': '#include "pds_a.h"\n',
                   'pds_b_int.h': '#include "pds_a.h"\n',
                   'pds_b.h': '#include "pds_a.h"\n',
                   'pds_b.c': '#include "pds_b.h"\n#include "pds_b_int.h"\n',
                   'pds_b_more.c': '/* #include "httpd.h" */\n#include "pds_b_int.h"\n',
                   'mod_x.c': '#include "httpd.h"\n#include "pds_b.h"\n',
                   'pdsx.c': '#include "httpd.h"\n'}, 0),
        'cycle': ({'pds_a.h': '#include "pds_b.h"\n', 'pds_a.c': '#include "pds_a.h"\n',
                   'pds_b.h': '', 'pds_b.c': '#include "pds_a.h"\n'}, 1),
        'cycle through a .c': ({'pds_a.h': '', 'pds_a.c': '#include "pds_b.h"\n',
                                'pds_b.h': '', 'pds_b.c': '#include "pds_c.h"\n',
                                'pds_c.h': '', 'pds_c.c': '#include "pds_a.h"\n'}, 1),
        'cycle through an _int.h': ({'pds_a.h': '', 'pds_a_int.h': '#include "pds_b.h"\n',
                                     'pds_a_files.c': '#include "pds_a_int.h"\n',
                                     'pds_b.h': '', 'pds_b.c': '#include "pds_a.h"\n'}, 1),
        'httpd.h': ({'pds_a.c': '#include <httpd.h>\n'}, 1),
        'http_log.h': ({'pds_a.h': '#include "http_log.h"\n'}, 1),
        'mod_dbd.h': ({'pds_a.c': '#include <mod_dbd.h>\n'}, 1),
        'util_filter.h': ({'pds_a.c': '#include <util_filter.h>\n'}, 1),
        'ap_config.h': ({'pds_a.c': '#include "ap_config.h"\n'}, 1),
    }
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (tree, want) in cases.items():
            d = os.path.join(tmp, re.sub(r'\W+', '-', name))
            os.mkdir(d)
            for f, text in tree.items():
                with open(os.path.join(d, f), 'w') as fh:
                    fh.write(text)
            got = subprocess.run([sys.executable, os.path.abspath(__file__), d],
                                 stdout=subprocess.DEVNULL).returncode
            ok = got == want
            failed += not ok
            print('check-includes self-test: %s: exit %d, %s %d%s'
                  % (name, got, 'want' if not ok else 'as', want, '' if ok else ' FAILED'))
    return 1 if failed else 0


def main(argv):
    if argv[1:] == ['--self-test']:
        return self_test()
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith('-')):
        print(__doc__, file=sys.stderr)
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    return check(argv[1] if len(argv) == 2 else os.path.normpath(os.path.join(here, '..', 'mod_pdshare')))


if __name__ == '__main__':
    sys.exit(main(sys.argv))
