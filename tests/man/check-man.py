#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""check-man.py VIGIL SOURCE_DIR: the man pages render cleanly and cannot fall behind the code.

1. Each page in doc/ renders with `man --warnings -l` at a fixed width with nothing on stderr.
2. Every long option that `VIGIL --help-all` lists has an entry (a .TP tag) in vigil(8).
3. Every key of the settings table in src/config_file.c has an entry in its [group] section of
   vigil.conf(5), and its VIGIL_* variable is named in vigil(8).
Exits 77 (skip) when man(1) is not installed.
"""
import os
import re
import shutil
import subprocess
import sys

PAGES = ("vigil.8", "vigil.conf.5", "vigilctl.1")


def render_errors(page):
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8", MANPAGER="cat", PAGER="cat")
    r = subprocess.run(["man", "--warnings", "-l", page], env=env, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, text=True, check=False)
    if r.returncode != 0 or r.stderr:
        return [f"{page}: man --warnings exited {r.returncode}:\n{r.stderr}"]
    return []


def plain(line):
    """A roff source line with the escapes that matter for matching undone."""
    line = line.replace("\\-", "-").replace("\\&", "")
    return re.sub(r"\\f[BIRP]", "", line)


def tp_tags(text):
    """The tag lines of the .TP entries, as plain text, with the section each is in."""
    tags, section, lines = [], "", text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SH"):
            section = line[3:].strip().strip('"')
        if line.startswith(".TP") and i + 1 < len(lines):
            tags.append((section, plain(lines[i + 1])))
    return tags


def help_options(vigil):
    out = subprocess.run([vigil, "--help-all"], stdout=subprocess.PIPE, text=True, check=True).stdout
    opts = re.findall(r"^\s+(?:-\S, )?--([a-z0-9][a-z0-9-]*)", out, re.M)
    if len(opts) < 50:
        sys.exit(f"only {len(opts)} options found in `{vigil} --help-all`: has its format changed?")
    return opts


def check_options(vigil, page):
    tags = [tag for _, tag in tp_tags(open(page, encoding="utf-8").read())]
    missing = [o for o in help_options(vigil)
               if not any(re.search(rf"--{re.escape(o)}(?![a-z0-9-])", t) for t in tags)]
    return [f"{page}: no entry for --{o} (listed by vigil --help-all)" for o in missing]


def settings(source_dir):
    text = open(os.path.join(source_dir, "src", "config_file.c"), encoding="utf-8").read()
    table = text[text.index("static const Setting settings[]"):]
    table = table[:table.index("};")]
    found = re.findall(r'\{\s*"([a-z-]+)",\s*"([a-z-]+)",\s*"(VIGIL_[A-Z_]+)"', table)
    if len(found) < 10:
        sys.exit(f"only {len(found)} settings found in src/config_file.c: has the table changed?")
    return found


def check_settings(source_dir, conf_page, vigil_page):
    tags = tp_tags(open(conf_page, encoding="utf-8").read())
    vigil_text = plain(open(vigil_page, encoding="utf-8").read())
    errors = []
    for group, key, env in settings(source_dir):
        if not any(s == f"[{group}]" and re.search(rf"(^|\s){re.escape(key)}=", t) for s, t in tags):
            errors.append(f"{conf_page}: no entry for {key}= in section [{group}]")
        if not re.search(rf"\b{env}\b", vigil_text):
            errors.append(f"{vigil_page}: {env} is not named")
    return errors


def main():
    vigil, source_dir = sys.argv[1], sys.argv[2]
    if not shutil.which("man"):
        print("SKIP: man(1) is not installed (apt-get install man-db)")
        return 77
    doc = os.path.join(source_dir, "doc")
    errors = []
    for p in PAGES:
        errors += render_errors(os.path.join(doc, p))
    errors += check_options(vigil, os.path.join(doc, "vigil.8"))
    errors += check_settings(source_dir, os.path.join(doc, "vigil.conf.5"), os.path.join(doc, "vigil.8"))
    for e in errors:
        print(e)
    if not errors:
        print(f"{', '.join(PAGES)}: render without warnings; every option and setting documented")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
