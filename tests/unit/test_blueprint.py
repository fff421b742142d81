"""plugin.yaml and the blueprints, checked by Cloudify's own DSL parser (offline types)."""
from pathlib import Path

import pytest
from dsl_parser import exceptions as dsl_exceptions
from dsl_parser.import_resolver.default_import_resolver import DefaultImportResolver
from dsl_parser.parser import parse_from_path
from dsl_parser.tasks import prepare_deployment_plan

ROOT = Path(__file__).resolve().parents[2]
TYPES_URL = "https://cloudify.co/spec/cloudify/6.4.0/types.yaml"
RESOLVER = DefaultImportResolver(rules=[{TYPES_URL: (ROOT / "offline" / "cloudify-types.yaml").as_uri()}],
                                 fallback=False)


def parse(path):
    return parse_from_path(str(path), resolver=RESOLVER)


def parse_with_plugin(tmp_path, body):
    """Parses a blueprint that imports the types and plugin.yaml, followed by body."""
    (tmp_path / "plugin.yaml").write_text((ROOT / "plugin.yaml").read_text())
    (tmp_path / "bp.yaml").write_text(
        f"tosca_definitions_version: cloudify_dsl_1_4\nimports: [{TYPES_URL}, plugin.yaml]\n{body}")
    return parse(tmp_path / "bp.yaml")


def test_barevm_blueprint_parses_and_wires_minions_to_master():
    plan = parse(ROOT / "barevm-blueprint.yaml")
    nodes = {n["id"]: n for n in plan["nodes"]}
    assert nodes["master"]["type"] == "kub.nodes.Master"
    assert nodes["minions"]["type"] == "kub.nodes.Minion"
    rel = nodes["minions"]["relationships"][0]
    assert rel["type"] == "kub.relationships.connected_to_master"
    assert rel["target_id"] == "master"
    ops = nodes["master"]["operations"]
    for name, module in (("create", "cluster_nodes"), ("configure", "cluster_nodes"), ("start", "cluster_nodes"),
                         ("stop", "cluster_teardown"), ("delete", "cluster_teardown")):
        assert ops[name]["operation"] == f"kub_plugin.cfy.{module}.{name}"
        assert ops[name]["executor"] == "central_deployment_agent"
    assert rel["source_operations"]["postconfigure"]["operation"] == "kub_plugin.cfy.cluster_nodes.join_master"
    # heal converges in place, after check_status found the node unwell
    assert ops["heal"]["operation"] == "kub_plugin.cfy.cluster_nodes.heal"
    assert ops["cloudify.interfaces.validation.check_status"]["operation"] == \
        "kub_plugin.cfy.cluster_nodes.check_status"


def test_inputs_fill_typed_properties_with_defaults():
    plan = prepare_deployment_plan(parse(ROOT / "barevm-blueprint.yaml"), inputs={
        "master_ip": "10.0.0.1", "minion_ips": ["10.0.0.2", "10.0.0.3"], "kubernetes_version": "1.35"})
    nodes = {n["id"]: n for n in plan["nodes"]}
    master = nodes["master"]["properties"]
    assert master["ip"] == "10.0.0.1"
    assert master["cluster"]["kubernetes_version"] == "1.35"
    assert master["cluster"]["cri_socket"] == "unix:///var/run/containerd/containerd.sock"
    assert master["ssh"]["verify_host_key"] is True   # host keys checked unless said otherwise
    assert nodes["minions"]["properties"]["ips"] == ["10.0.0.2", "10.0.0.3"]


BLUEPRINTS = [ROOT / "barevm-blueprint.yaml", ROOT / "examples" / "app-on-new-cluster.yaml"]
REFUSED_INPUTS = [
    ({"kubernetes_version": "1.40"}, "Value 1.40 of input kubernetes_version violates constraint valid_values(1.35, "
                                     "1.36, 1.37) operator."),
    ({"ssh_port": 0}, "Value 0 of input ssh_port violates constraint in_range(1, 65535)"),
    ({"ssh_bastion_port": 70000}, "Value 70000 of input ssh_bastion_port violates constraint in_range(1, 65535)"),
    ({"ssh_bastion_user": ""}, "input ssh_bastion_user violates constraint min_length(1)"),
    ({"ssh_connect_timeout": 0}, "input ssh_connect_timeout violates constraint greater_than(0)"),
    ({"master_ip": "kub-master.example"}, "input master_ip violates constraint pattern"),
    ({"pod_network_cidr": "10.244.0.0"}, "input pod_network_cidr violates constraint pattern"),
    ({"containerd_source": "docker"}, "input containerd_source violates constraint valid_values(release, os)"),
    ({"containerd_version": "2.1"}, "input containerd_version violates constraint pattern"),
    ({"cri_socket": "/run/containerd/containerd.sock"}, "input cri_socket violates constraint pattern"),
    ({"package_repository_url": "pkgs.k8s.io/core"}, "input package_repository_url violates constraint pattern"),
    ({"cni_manifest": ""}, "input cni_manifest violates constraint pattern"),
]


@pytest.mark.parametrize("blueprint", BLUEPRINTS, ids=lambda p: p.name)
@pytest.mark.parametrize("inputs,message", REFUSED_INPUTS, ids=[str(c[0]) for c in REFUSED_INPUTS])
def test_the_blueprints_refuse_bad_inputs_at_init(blueprint, inputs, message):
    with pytest.raises(dsl_exceptions.ConstraintException) as err:
        prepare_deployment_plan(parse(blueprint), inputs={"master_ip": "10.0.0.1", **inputs})
    assert message in str(err.value)


def test_the_minors_the_blueprint_takes_are_those_kub_supports():
    import yaml

    from kub_plugin.cluster import versions
    for blueprint in BLUEPRINTS:
        spec = yaml.safe_load(blueprint.read_text())["inputs"]["kubernetes_version"]
        assert spec["constraints"] == [{"valid_values": sorted(versions.MINORS)}]


@pytest.mark.parametrize("template,message", [
    ("cp: {type: kub.nodes.Master}", "'cp' node does not provide a value for mandatory 'ip' property"),
    ("cp: {type: kub.nodes.Master, properties: {ip: 10.1.0.1, ssh: {port: '22'}}}", "port"),
])
def test_hand_written_templates_missing_what_kub_needs_are_refused_by_the_parser(tmp_path, template, message):
    with pytest.raises(dsl_exceptions.DSLParsingException) as err:
        prepare_deployment_plan(parse_with_plugin(tmp_path, f"node_templates:\n  {template}\n"))
    assert message in str(err.value)


def test_plugin_yaml_embeds_beside_other_types_with_other_names(tmp_path):
    plan = parse_with_plugin(tmp_path, """
node_types:
  other.nodes.Thing: {derived_from: cloudify.nodes.Root}
node_templates:
  thing: {type: other.nodes.Thing}
  cp: {type: kub.nodes.Master, properties: {ip: 10.1.0.1}}
  gpu_workers:
    type: kub.nodes.Minion
    properties: {ip: 10.1.0.2}
    relationships: [{type: kub.relationships.connected_to_master, target: cp}]
  cpu_workers:
    type: kub.nodes.Minion
    properties: {ips: [10.1.0.3, 10.1.0.4]}
    relationships:
      - {type: kub.relationships.connected_to_master, target: cp}
      - {type: cloudify.relationships.depends_on, target: thing}
""")
    assert {n["id"] for n in plan["nodes"]} == {"thing", "cp", "gpu_workers", "cpu_workers"}


def test_unknown_ssh_setting_is_refused_by_the_parser(tmp_path):
    with pytest.raises(dsl_exceptions.DSLParsingException, match="usr"):
        parse_with_plugin(tmp_path, """
node_templates:
  cp: {type: kub.nodes.Master, properties: {ip: 10.1.0.1, ssh: {usr: admin}}}
""")


def _type_defaults(plugin, data_type):
    return {name: spec.get("default") for name, spec in plugin["data_types"][data_type]["properties"].items()}


def test_defaults_are_the_same_in_plugin_yaml_the_blueprint_and_the_code():
    """cluster/settings.py holds every default; plugin.yaml and barevm-blueprint.yaml repeat them and must agree."""
    import dataclasses

    import yaml

    from kub_plugin.cluster import settings

    plugin = yaml.safe_load((ROOT / "plugin.yaml").read_text())
    blueprint = yaml.safe_load((ROOT / "barevm-blueprint.yaml").read_text())
    code = {cls: {f.name: f.default if f.default_factory is dataclasses.MISSING else f.default_factory()
                  for f in dataclasses.fields(cls)}
            for cls in (settings.SshSettings, settings.BastionSettings, settings.ClusterSettings,
                        settings.NodeSettings, settings.DrainSettings)}
    code[settings.SshSettings].pop("ip")
    # no bastion: the code's None, plugin.yaml's empty SshBastion (its address empty)
    assert code[settings.SshSettings].pop("bastion") is None
    ssh_type = _type_defaults(plugin, "kub.datatypes.Ssh")
    assert ssh_type.pop("bastion") == {}
    assert ssh_type == code[settings.SshSettings]
    assert _type_defaults(plugin, "kub.datatypes.SshBastion") == code[settings.BastionSettings]
    assert _type_defaults(plugin, "kub.datatypes.Cluster") == code[settings.ClusterSettings]
    host = plugin["node_types"]["kub.nodes.Host"]["properties"]
    assert {name: host[name]["default"] for name in code[settings.NodeSettings]} == code[settings.NodeSettings]
    minion = plugin["node_types"]["kub.nodes.Minion"]["properties"]
    assert {name: minion[name]["default"] for name in code[settings.DrainSettings]} == code[settings.DrainSettings]
    # every blueprint input that feeds a setting has the setting's default
    inputs = {name: spec.get("default") for name, spec in blueprint["inputs"].items()}
    fed = {**{f"ssh_{name}": value for name, value in code[settings.SshSettings].items()},
           **{f"ssh_bastion_{name}": value for name, value in code[settings.BastionSettings].items()},
           **code[settings.ClusterSettings], **code[settings.DrainSettings]}
    # the one deliberate difference: the blueprint logs in with the usual key file, the type has no key of its
    # own (a node may use key text or a password instead)
    assert inputs.pop("ssh_private_key_path") == "~/.ssh/id_ed25519"
    compared = {name: (inputs[name], fed[name]) for name in inputs if name in fed and "default" in
                blueprint["inputs"][name]}
    assert len(compared) >= 18, compared
    assert all(given == wanted for given, wanted in compared.values()), compared


def test_the_examples_take_the_inputs_of_barevm_blueprint(tmp_path):
    """A lab user runs both examples with one inputs file (`kub-lab inputs --examples`: barevm-blueprint.yaml's and
    the web app's image): the new-cluster example has barevm's very inputs and the image, the existing-cluster one
    accepts them all."""
    import shutil

    import yaml
    barevm = yaml.safe_load((ROOT / "barevm-blueprint.yaml").read_text())["inputs"]
    new = yaml.safe_load((ROOT / "examples" / "app-on-new-cluster.yaml").read_text())["inputs"]
    existing = yaml.safe_load((ROOT / "examples" / "app-on-existing-cluster.yaml").read_text())["inputs"]
    assert new.pop("web_image") == existing["web_image"] == {
        "type": "string", "default": "nginx:1.27",
        "description": "The web app's image, serving HTTP on port 80 (`kub-lab inputs --examples` gives the lab's)."}
    assert new == barevm
    assert set(barevm) <= set(existing)
    for name in ("app-on-new-cluster.yaml", "app-on-existing-cluster.yaml"):
        shutil.copy(ROOT / "examples" / name, tmp_path)
    shutil.copy(ROOT / "plugin.yaml", tmp_path)
    given = {"master_ip": "10.0.0.1", "minion_ips": ["10.0.0.2"], "ssh_user": "root", "kubernetes_version": "1.36",
             "allow_cgroup_v1": True, "containerd_version": "2.1.9", "cni_manifest": "/x/cni.yaml"}
    nodes = {n["id"]: n for n in prepare_deployment_plan(parse(tmp_path / "app-on-existing-cluster.yaml"),
                                                         inputs=dict(given))["nodes"]}
    assert nodes["cluster"]["type"] == "kub.nodes.ExistingCluster"
    assert nodes["cluster"]["properties"]["ip"] == "10.0.0.1"
    assert nodes["cluster"]["properties"]["kubeconfig_path"] == "/etc/kubernetes/admin.conf"
    assert nodes["web"]["relationships"][0]["target_id"] == "cluster"
    nodes = {n["id"]: n for n in prepare_deployment_plan(parse(tmp_path / "app-on-new-cluster.yaml"),
                                                         inputs=dict(given))["nodes"]}
    assert [r["target_id"] for r in nodes["web"]["relationships"]] == ["master", "minions"]
    # the app's image is the input's (on real hosts nginx; the lab gives its own registry's web server)
    for given_image, wanted in ((None, "nginx:1.27"), ("docker.io/kublab/web:1.0", "docker.io/kublab/web:1.0")):
        inputs = dict(given, **({"web_image": given_image} if given_image else {}))
        for blueprint in ("app-on-new-cluster.yaml", "app-on-existing-cluster.yaml"):
            web = {n["id"]: n for n in prepare_deployment_plan(parse(tmp_path / blueprint),
                                                               inputs=dict(inputs))["nodes"]}["web"]
            deployment = web["properties"]["resources"][0]
            assert deployment["kind"] == "Deployment"
            assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == wanted


def test_on_a_manager_the_key_and_the_host_keys_come_from_secrets_given_as_inputs():
    """`cfy deployments create -i inputs.yaml` on a manager, the key, its passphrase and the known_hosts lines given
    as `{get_secret: <name>}`: Cloudify's parser takes them and leaves each a get_secret the manager reads when an
    operation runs (where secrets are not supported, as in local mode, it refuses them)."""
    secrets = {"kub_ssh_key": "KEY", "kub_ssh_key_passphrase": "PASS", "kub_known_hosts": "LINES"}
    inputs = {"master_ip": "10.0.0.1", "minion_ips": ["10.0.0.2"],
              **{name: {"get_secret": secret} for name, secret in (("ssh_private_key", "kub_ssh_key"),
                                                                   ("ssh_private_key_passphrase",
                                                                    "kub_ssh_key_passphrase"),
                                                                   ("ssh_known_hosts", "kub_known_hosts"))}}
    plan = prepare_deployment_plan(parse(ROOT / "barevm-blueprint.yaml"), get_secret_method=secrets.__getitem__,
                                   inputs=inputs)
    for node in plan["nodes"]:
        ssh = node["properties"]["ssh"]
        assert (ssh["private_key"], ssh["private_key_passphrase"], ssh["known_hosts"]) == (
            {"get_secret": "kub_ssh_key"}, {"get_secret": "kub_ssh_key_passphrase"}, {"get_secret": "kub_known_hosts"})
    with pytest.raises(Exception, match="get_secret intrinsic function is not supported"):
        prepare_deployment_plan(parse(ROOT / "barevm-blueprint.yaml"), inputs=inputs)
