"""Writes the plugin.yaml a Cloudify Manager gets: plugin.yaml (or a DSL variant of it) without the plugin's `source`.

A manager installs the uploaded wagon (matched by package_name and package_version); a `source` would make it
install from there instead. Everything else, comments included, is plugin.yaml as it is.
    python release/manager_plugin.py plugin.yaml dist/plugin.yaml
"""
import os
import re
import sys

import yaml

HEADER = "# Generated from {} by `make wagon` for a Cloudify Manager (no `source`): do not edit.\n"


def manager_variant(text, name="plugin.yaml"):
    lines = text.splitlines(keepends=True)
    out = []
    for line in lines:
        if re.match(r"^    source:", line):
            while out and out[-1].startswith("    #"):   # the comment that explains source goes with it
                out.pop()
            continue
        out.append(line)
    result = HEADER.format(name) + "".join(out)
    expected = yaml.safe_load(text)
    for plugin in expected["plugins"].values():
        plugin.pop("source", None)
    if yaml.safe_load(result) != expected:
        raise SystemExit(f"{name}: `source` is not a plain 4-space line under plugins: keep it on one line")
    return result


def main(source, target):
    with open(source) as f:
        text = f.read()
    with open(target, "w") as f:
        f.write(manager_variant(text, os.path.basename(source)))


if __name__ == "__main__":
    main(*sys.argv[1:])
