"""plugin.yaml and the offline types for blueprints of each DSL version: the committed variants are what the
generator makes (release/dsl_variants.py), and Cloudify's own parser resolves and takes each."""
import shutil
import sys
from pathlib import Path

import pytest
from dsl_parser.import_resolver.default_import_resolver import DefaultImportResolver
from dsl_parser.parser import parse_from_path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "release"))
import dsl_variants  # noqa: E402

VERSIONS = ("1_3", "1_4", "1_5")


class RecordingResolver(DefaultImportResolver):
    """Cloudify's own resolver, noting the name of every file it reads."""

    def __init__(self):
        super().__init__()
        self.read = set()

    def fetch_import(self, import_url, **kwargs):
        self.read.add(Path(import_url.split(":", 1)[1]).name)
        return super().fetch_import(import_url, **kwargs)


def test_the_committed_variants_are_what_the_generator_makes():
    for path, text in dsl_variants.variants().items():
        assert path.exists() and path.read_text() == text, (
            f"{path.relative_to(ROOT)} is not what release/dsl_variants.py makes of its source: run `make variants`")


@pytest.mark.parametrize("version", VERSIONS)
def test_a_blueprint_of_each_version_gets_its_own_variant(tmp_path, monkeypatch, version):
    """As the real-hosts steps lay it out: the blueprint, plugin.yaml and its variants, the offline types beside,
    and cfy run in that folder (in local mode the parser looks for a variant from the working directory only)."""
    monkeypatch.chdir(tmp_path)
    for name in (*dsl_variants.SOURCES, *(str(dsl_variants.variant_path(s, v)) for s in dsl_variants.SOURCES
                                          for v in dsl_variants.LACKS)):
        shutil.copy(ROOT / name, tmp_path / Path(name).name)
    blueprint = (ROOT / "barevm-blueprint.yaml").read_text()
    blueprint = blueprint.replace("tosca_definitions_version: cloudify_dsl_1_4",
                                  f"tosca_definitions_version: cloudify_dsl_{version}")
    blueprint = blueprint.replace("https://cloudify.co/spec/cloudify/6.4.0/types.yaml", "cloudify-types.yaml")
    (tmp_path / "bp.yaml").write_text(blueprint)
    resolver = RecordingResolver()
    plan = parse_from_path("bp.yaml", resolver=resolver)
    suffix = "" if version == dsl_variants.SOURCE_VERSION else f"_{version}"
    assert resolver.read == {f"plugin{suffix}.yaml", f"cloudify-types{suffix}.yaml"}
    nodes = {n["id"]: n for n in plan["nodes"]}
    assert nodes["master"]["type"] == "kub.nodes.Master"
    assert "kub_scale" in plan["workflows"]


def test_without_its_variant_a_1_3_blueprint_is_refused(tmp_path, monkeypatch):
    """Why the variants exist: the 1_4 sources alone cannot be imported by a cloudify_dsl_1_3 blueprint."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(ROOT / "plugin.yaml", tmp_path / "plugin.yaml")
    shutil.copy(ROOT / "offline/cloudify-types_1_3.yaml", tmp_path / "cloudify-types.yaml")
    (tmp_path / "bp.yaml").write_text("tosca_definitions_version: cloudify_dsl_1_3\n"
                                      "imports: [cloudify-types.yaml, plugin.yaml]\n")
    with pytest.raises(Exception, match="An import uses a different tosca_definitions_version"):
        parse_from_path("bp.yaml")


@pytest.mark.parametrize("key, body", [
    ("item_type", "inputs:\n  a: {type: list, item_type: string, default: []}\n"),
    ("availability_rules", "plugins:\n  p: {executor: central_deployment_agent, install: false}\nworkflows:\n"
                           "  w:\n    mapping: p.m.f\n    availability_rules: {node_instances_active: [all]}\n"),
])
def test_what_the_generator_drops_for_1_3_is_what_cloudifys_parser_refuses_there(tmp_path, key, body):
    assert key in dsl_variants.LACKS["1_3"]
    path = tmp_path / "probe.yaml"
    for version in ("1_4", "1_5"):
        path.write_text(f"tosca_definitions_version: cloudify_dsl_{version}\n{body}")
        parse_from_path(str(path))
    path.write_text(f"tosca_definitions_version: cloudify_dsl_1_3\n{body}")
    with pytest.raises(Exception, match=f"{key} not supported in version cloudify_dsl_1_3"):
        parse_from_path(str(path))


def test_keys_1_3_lacks_are_dropped_with_their_block_and_nothing_else():
    source = ("# c\ntosca_definitions_version: cloudify_dsl_1_4\nworkflows:\n  w:\n    mapping: p.m.f\n"
              "    availability_rules:\n      node_instances_active: [all]\n    parameters:\n      a:\n"
              "        type: list\n        item_type: string\n        default: []\n")
    text = dsl_variants.variant(source, "x.yaml", "1_3")
    assert "availability_rules" not in text and "item_type" not in text and "node_instances_active" not in text
    assert "tosca_definitions_version: cloudify_dsl_1_3\n" in text and "        default: []\n" in text
    flow = source.replace("        type: list\n        item_type: string\n        default: []\n",
                          "        {type: list, item_type: string, default: []}\n").replace("      a:\n", "      a:\n")
    flow = flow.replace("      a:\n        {", "      a: {")
    with pytest.raises(SystemExit, match="block style"):
        dsl_variants.variant(flow, "x.yaml", "1_3")
