"""Writes the variants of plugin.yaml and offline/cloudify-types.yaml for blueprints of other DSL versions.

A blueprint may import only files of its own tosca_definitions_version or an earlier one, and cfy serves a
cloudify_dsl_1_3 blueprint's import of `plugin.yaml` from `plugin_1_3.yaml` beside it when that exists
(dsl_parser.elements.imports; a manager picks the uploaded `*_1_3.yaml` of a plugin the same way). The sources
are cloudify_dsl_1_4; each variant is its source, comments and all, with the other version and without the
keys that version does not know. Run after every change to a source (the unit tests compare):
    python release/dsl_variants.py          (make variants)
"""
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("plugin.yaml", "offline/cloudify-types.yaml")
SOURCE_VERSION = "1_4"
# What cloudify 7.0.5's dsl_parser refuses in each version that the sources' version takes: item_type (of
# inputs and workflow parameters) and a workflow's availability_rules came in 1_4. Their checks are kub's own.
LACKS = {"1_3": ("item_type", "availability_rules"), "1_5": ()}
VERSION_LINE = f"tosca_definitions_version: cloudify_dsl_{SOURCE_VERSION}\n"


def variant_path(source, version):
    path = Path(source)
    return path.with_name(f"{path.stem}_{version}{path.suffix}")


def _without(data, keys):
    if isinstance(data, dict):
        return {k: _without(v, keys) for k, v in data.items() if k not in keys}
    if isinstance(data, list):
        return [_without(v, keys) for v in data]
    return data


def variant(text, name, version):
    """The text of `name` (a cloudify_dsl_1_4 file) for cloudify_dsl_<version> blueprints."""
    lines = text.splitlines(keepends=True)
    if lines.count(VERSION_LINE) != 1:
        raise SystemExit(f"{name}: needs exactly one line {VERSION_LINE.strip()!r} to make its variants")
    keys = LACKS[version]
    out, dropping_below = [], None
    for line in lines:
        indent = len(line) - len(line.lstrip())
        if dropping_below is not None:
            if not line.strip() or indent > dropping_below:
                continue
            dropping_below = None
        match = re.match(r"^( *)([A-Za-z_]+):", line)
        if match and match.group(2) in keys:
            dropping_below = len(match.group(1))
            continue
        out.append(f"tosca_definitions_version: cloudify_dsl_{version}\n" if line == VERSION_LINE else line)
    header = (f"# Generated from {name} by `make variants` for cloudify_dsl_{version} blueprints: do not edit.\n")
    result = header + "".join(out)
    expected = _without(yaml.safe_load(text), keys)
    expected["tosca_definitions_version"] = f"cloudify_dsl_{version}"
    if yaml.safe_load(result) != expected:
        raise SystemExit(f"{name}: a key cloudify_dsl_{version} lacks ({', '.join(keys)}) is not in block style "
                         f"on a line of its own: write it so")
    return result


def variants(root=ROOT):
    """{path: text} of every variant of every source."""
    made = {}
    for name in SOURCES:
        text = (root / name).read_text()
        for version in LACKS:
            made[root / variant_path(name, version)] = variant(text, name, version)
    return made


def main():
    for path, text in variants().items():
        if not path.exists() or path.read_text() != text:
            path.write_text(text)
            print(f"changed: {path.relative_to(ROOT)}")


if __name__ == "__main__":
    sys.exit(main())
