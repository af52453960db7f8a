"""README's directive table lists exactly the directives the module registers, and covers
the contract's (SPEC §2), naming what it adds."""

import re
import shutil
import subprocess

from pdshare_harness import REPO, Httpd, httpd_bin


def readme_directives_section():
    readme = REPO / "README.md"
    assert readme.is_file(), f"{readme} is missing"
    m = re.search(r"^## Directives[ \t]*$(.*?)(?=^## |\Z)", readme.read_text(), re.M | re.S)
    assert m, "README.md has no '## Directives' section"
    return m.group(1)


def readme_directives():
    names = []
    for line in readme_directives_section().splitlines():
        if not line.lstrip().startswith("|"):
            continue
        # cells split on unescaped pipes ("On\|Off" stays in its cell)
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:]]
        if cells and re.match(r"^`PDShare\w+", cells[0]):
            # a row may document two directives: `PDShareSMTP URL` / `PDShareMailFrom ADDR`
            names += re.findall(r"`(PDShare\w+)", cells[0])
    return names


def registered_directives(module_so):
    h = Httpd(name="readme")
    try:
        h.write_config()
        out = subprocess.run([httpd_bin(), "-f", str(h.conf_path), "-L"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"httpd -L failed:\n{out.stdout}{out.stderr}"
        names = re.findall(r"^(\S+) \(mod_pdshare\.c\)$", out.stdout, re.M)
        assert names, f"httpd -L lists no directive of mod_pdshare.c:\n{out.stdout[-2000:]}"
        return names
    finally:
        shutil.rmtree(h.dir, ignore_errors=True)


def test_readme_lists_exactly_the_registered_directives(module_so):
    documented = readme_directives()
    registered = registered_directives(module_so)
    dupes = sorted({d for d in documented if documented.count(d) > 1})
    assert not dupes, f"documented twice in README: {dupes}"
    missing = sorted(set(registered) - set(documented))
    extra = sorted(set(documented) - set(registered))
    assert not missing and not extra, \
        f"not in README: {missing}; in README but not registered: {extra}"


# The directives of the contract (SPEC §2). README's own additions are named
# in the sentence after its table ("... are additions to the contract").
CONTRACT = {"PDShareBaseURL", "PDShareHtdocs", "PDShareDataKeyFile", "PDShareDropboxAppKey",
            "PDShareDropboxAppSecretFile", "PDShareDropboxRedirectURI", "PDShareDropboxAPIURL",
            "PDShareDropboxContentURL", "PDShareDropboxAuthorizeURL", "PDShareDropboxRoot",
            "PDShareHTTPTimeout", "PDShareMemcache", "PDShareTempLinkTTL", "PDShareMaxTracks",
            "PDShareStorageDir", "PDShareExportSingleFolder", "PDShareExportByStatus", "PDShareSMTP",
            "PDShareMailFrom"}


def readme_additions():
    sentences = [p for p in re.split(r"\n\s*\n", readme_directives_section())
                 if "additions to the contract" in p]
    assert len(sentences) == 1, "README's Directives section does not name its additions to the contract"
    return set(re.findall(r"`(PDShare\w+)`", sentences[0]))


def test_readme_covers_the_contract_directives(module_so):
    documented = set(readme_directives())
    registered = set(registered_directives(module_so))
    not_registered = sorted(CONTRACT - registered)
    assert not not_registered, f"directives of the contract the module does not register: {not_registered}"
    not_documented = sorted(CONTRACT - documented)
    assert not not_documented, f"directives of the contract not in README's table: {not_documented}"
    # Whatever else README documents, it says is an addition to the contract.
    additions = readme_additions()
    assert documented - CONTRACT == additions, \
        f"beyond the contract README documents {sorted(documented - CONTRACT)}, " \
        f"and calls {sorted(additions)} additions"
