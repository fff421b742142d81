"""Blueprints of each DSL version Cloudify users write import kub: a cloudify_dsl_1_3 and a cloudify_dsl_1_5
blueprint, laid out as the README's real-hosts steps lay it out (the blueprint, plugin.yaml with its variants and
the offline types beside it, cfy run in that folder), each install a cluster with the real cfy and uninstall it."""
from concurrent.futures import ThreadPoolExecutor

import pytest
from e2e_support import cluster_inputs

from kub_lab.cfy import PROJECT, TYPES_URL, LocalCfy

pytestmark = pytest.mark.lab
MASTERS = {"1_3": 4, "1_5": 5}


def staged(tmp_path, version):
    source = (PROJECT / "barevm-blueprint.yaml").read_text()
    assert "tosca_definitions_version: cloudify_dsl_1_4\n" in source and TYPES_URL in source
    blueprint = tmp_path / f"src{version}" / "barevm-blueprint.yaml"
    blueprint.parent.mkdir()
    blueprint.write_text(source.replace("cloudify_dsl_1_4", f"cloudify_dsl_{version}")
                         .replace(TYPES_URL, "cloudify-types.yaml"))
    cfy = LocalCfy(tmp_path / f"cfy{version}", blueprint_id=f"dsl{version}", blueprint=blueprint)
    cfy.stage([*PROJECT.glob("plugin_*.yaml"), *PROJECT.glob("offline/cloudify-types*.yaml")])
    cfy.cwd = cfy.blueprint_dir
    return cfy


def test_dsl_1_3_and_1_5_blueprints_install_and_uninstall(lab, pristine_hosts, tmp_path):
    clusters = {version: staged(tmp_path, version) for version in MASTERS}
    try:
        for version, cfy in clusters.items():
            cfy.init(cluster_inputs(lab, master=MASTERS[version], minions=()))
        with ThreadPoolExecutor(len(clusters)) as pool:
            for out in pool.map(lambda cfy: cfy.install().stdout, clusters.values()):
                assert "'install' workflow execution succeeded" in out
        for version, cfy in clusters.items():
            master = MASTERS[version]
            assert cfy.outputs()["node_names"] == {"master": [f"kubh{master}"], "minions": []}
            nodes = lab.exec(master, "kubectl --kubeconfig /etc/kubernetes/admin.conf get nodes --no-headers").stdout
            assert nodes.split()[:2] == [f"kubh{master}", "Ready"], nodes
        with ThreadPoolExecutor(len(clusters)) as pool:
            list(pool.map(lambda cfy: cfy.uninstall(), clusters.values()))
        for master in MASTERS.values():
            assert lab.exec(master, "test -e /etc/kubernetes/admin.conf || test -e /var/lib/kub/owner",
                            check=False).returncode != 0
    finally:
        pristine_hosts(*MASTERS.values())


def test_the_1_4_types_alone_are_refused_by_a_1_3_blueprint(tmp_path):
    """Without its variants beside it, cfy itself refuses the import: the variants are what makes 1_3 work."""
    cfy = staged(tmp_path, "1_3")
    for variant in cfy.blueprint_dir.glob("*_1_*.yaml"):
        variant.unlink()
    result = cfy.run("blueprints", "validate", str(cfy.blueprint), check=False)
    assert result.returncode != 0 and "An import uses a different tosca_definitions_version" in result.stdout
