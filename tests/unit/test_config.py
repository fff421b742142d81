"""Input checks: each bad input is one line naming the setting and the fix."""
import pytest

from kub_plugin.cluster.properties import (
    check_hosts,
    cluster_settings,
    drain_settings,
    host_addresses,
    node_settings,
    ssh_settings,
)
from kub_plugin.cluster.settings import ClusterSettings, DrainSettings, NodeSettings
from kub_plugin.errors import ConfigError

KEY = {"ssh": {"private_key_path": "/k"}}

BAD_CLUSTERS = [
    ({"kubernetes_version": "1.31.2"}, "not a minor version"),
    ({"kubernetes_version": "latest"}, "not a minor version"),
    ({"kubernetes_version": "1.\u0663\u0661"}, "not a minor version"),      # Arabic-Indic digits match \d
    ({"kubernetes_version": 1.3}, "cluster.kubernetes_version 1.3 is not a string (quote it in YAML"),
    ({"kubernetes_version": "1.3"}, "'1.3' reads like 1.30 written without quotes"),
    ({"pod_network_cidr": "10.244.0.0/33"}, "cluster.pod_network_cidr '10.244.0.0/33' is not a valid CIDR"),
    ({"service_cidr": "10.96.0.1/12"}, "cluster.service_cidr '10.96.0.1/12' is not a valid CIDR"),
    ({"pod_network_cidr": "10.0.0.0/8", "service_cidr": "10.96.0.0/12"}, "overlap"),
    ({"pod_network_cidr": "10.244.0.1/32"}, "cluster.pod_network_cidr 10.244.0.1/32 is too small"),
    ({"pod_network_cidr": "10.244.0.0/24"}, "is too small: each node takes a /24"),
    ({"service_cidr": "172.0.0.0/8"}, "cluster.service_cidr 172.0.0.0/8 cannot be used"),
    ({"service_cidr": "10.96.0.7/32"}, "cluster.service_cidr 10.96.0.7/32 cannot be used"),
    ({"package_repository_url": "pkgs.k8s.io/core"}, "not an http(s):// or file:// URL"),
    ({"package_repository_url": "https://m/{ver}/"}, "only {version} may stand in braces"),
    ({"package_repository_url": "https://m/{0}/"}, "only {version} may stand in braces"),
    ({"package_repository_url": "https://m/{version/"}, "only {version} may stand in braces"),
    ({"package_repository_url": "https://m/v{version!r}/"}, "only {version} may stand in braces"),
    ({"package_repository_url": "https://m/{version}/\ndeb http://evil/ /"}, "white space or a line break"),
    ({"package_repository_key_url": "https://m/v{version}/Release key"}, "white space or a line break"),
    ({"cri_socket": "/run/containerd/containerd.sock"}, "cluster.cri_socket '/run/containerd/containerd.sock' is "
     "not a unix socket URL"),
    ({"cri_socket": "unix:///run/x.sock\"\nkind: x"}, "is not a unix socket URL"),
    ({"purge_packages": "yes"}, "cluster.purge_packages 'yes' is not true or false"),
    ({"flavour": "x"}, "unknown cluster setting(s) flavour"),
    # the versions table (versions.py) decides what is supported
    ({"kubernetes_version": "1.31"}, "cluster.kubernetes_version '1.31' is not supported: use one of 1.35, 1.36, "
                                     "1.37"),
    ({"kubernetes_version": "1.38"}, "is not supported"),
    ({"containerd_source": "docker"}, "cluster.containerd_source 'docker' is not one of release, os"),
    ({"containerd_version": "1.7.24", "kubernetes_version": "1.36"},
     "cluster.containerd_version 1.7.24 does not work with Kubernetes 1.36, which needs containerd 2.0 or newer"),
    ({"containerd_version": "2.1"}, "cluster.containerd_version '2.1' is not a release version"),
    ({"runc_url": "https://m/{version}/runc.{os}"}, "only {version} and {runc_version} and {arch} may stand"),
    # what kub fetches here travels over https unless a mirror on a trusted network is allowed plain http
    ({"package_repository_key_url": "http://m/v{version}/Release.key"},
     "cluster.package_repository_key_url 'http://m/v{version}/Release.key' is plain http, which anyone on the way "
     "can change: use https, or set cluster.allow_plain_http: true for a mirror on a network you trust"),
    ({"cni_manifest": "HTTP://m/flannel.yml"}, "cluster.cni_manifest 'HTTP://m/flannel.yml' is plain http"),
    ({"containerd_unit_url": "http://m/{version}/containerd.service"}, "is plain http"),
    ({"allow_plain_http": "yes"}, "cluster.allow_plain_http 'yes' is not true or false"),
]


@pytest.mark.parametrize("cluster,message", BAD_CLUSTERS, ids=[str(c[0]) for c in BAD_CLUSTERS])
def test_bad_cluster_settings(cluster, message):
    with pytest.raises(ConfigError) as err:
        cluster_settings({"cluster": cluster})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_are_valid_and_format_the_repository_per_minor():
    assert cluster_settings({}).kubernetes_version == "1.36"
    settings = cluster_settings({"cluster": {"kubernetes_version": "1.35"}})
    assert settings.repository_url == "https://pkgs.k8s.io/core:/stable:/v1.35/deb/"
    assert settings.repository_key_url == "https://pkgs.k8s.io/core:/stable:/v1.35/deb/Release.key"
    mirror = ClusterSettings(package_repository_url="http://mirror/k8s/{version}")
    assert mirror.repository_url == "http://mirror/k8s/1.36/"


def test_containerd_downloads_default_to_the_upstream_releases():
    assert ClusterSettings().containerd_downloads("arm64") == {
        "containerd": "https://github.com/containerd/containerd/releases/download/v2.1.9/"
                      "containerd-2.1.9-linux-arm64.tar.gz",
        "runc": "https://github.com/opencontainers/runc/releases/download/v1.3.3/runc.arm64",
        "unit": "https://raw.githubusercontent.com/containerd/containerd/v2.1.9/containerd.service"}
    mirror = cluster_settings({"cluster": {"containerd_url": "http://m/c/{version}/c-{arch}.tgz",
                                           "allow_plain_http": True}})
    assert mirror.containerd_downloads("amd64")["containerd"] == "http://m/c/2.1.9/c-amd64.tgz"
    assert cluster_settings({"cluster": {"package_repository_url": "file:///srv/{{mirror}}/v{version}/"}})
    cluster_settings({"cluster": {"pod_network_cidr": "fd00:10:244::/56", "service_cidr": "fd00:10:96::/112"}})


@pytest.mark.parametrize("props,ip,message", [
    (KEY, "10.0.0.300", "'10.0.0.300': not an IP address"),
    (KEY, 10, "ip 10 is not a string"),
    ({"ssh": {}}, "10.0.0.1", "10.0.0.1: no SSH credential"),
    ({"ssh": {"private_key_path": "/k", "host_key_fingerprint": "ab:cd"}}, "10.0.0.1", "SHA256:"),
    ({"ssh": {"private_key_path": "/k", "user": ""}}, "10.0.0.1", "ssh.user is empty"),
    ({"ssh": {"private_key_path": "/k", "port": 70000}}, "10.0.0.1", "10.0.0.1: ssh.port 70000 is not a TCP port"),
    ({"ssh": {"private_key_path": "/k", "port": 0}}, "10.0.0.1", "ssh.port 0 is not a TCP port"),
    ({"ssh": {"private_key_path": "/k", "port": "22"}}, "10.0.0.1", "ssh.port '22' is not a whole number"),
    ({"ssh": {"private_key_path": "/k", "connect_timeout": 0}}, "10.0.0.1", "ssh.connect_timeout 0 must be above 0"),
    ({"ssh": {"private_key_path": "/k", "connect_timeout": -5}}, "10.0.0.1", "must be above 0"),
    ({"ssh": {"private_key_path": "/k", "verify_host_key": "no"}}, "10.0.0.1", "ssh.verify_host_key 'no' is not "
                                                                               "true or false"),
    ({"ssh": {"private_key_path": "/k", "colour": 1}}, "10.0.0.1", "unknown ssh setting(s) colour"),
])
def test_bad_ssh_settings(props, ip, message, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(ConfigError) as err:
        ssh_settings(props, ip)
    assert message in str(err.value)


def test_an_address_has_one_spelling():
    assert ssh_settings(KEY, "2001:DB8::1").ip == "2001:db8::1"
    assert ssh_settings(KEY, " 10.0.0.1 ").ip == "10.0.0.1"


def test_ssh_settings_keep_secrets_out_of_repr():
    settings = ssh_settings({"ssh": {"password": "hunter2", "sudo_password": "s3cret", "private_key": "KEY"}},
                            "10.0.0.1")
    assert "hunter2" not in repr(settings) and "s3cret" not in repr(settings) and "KEY" not in repr(settings)


@pytest.mark.parametrize("props,message", [
    ({"ready_timeout": 0}, "node m: ready_timeout 0 must be above 0 seconds (the default is 300)"),
    ({"master_timeout": -1}, "node m: master_timeout -1 must be above 0 seconds"),
    ({"ready_timeout": "300"}, "node m: ready_timeout '300' is not a whole number"),
])
def test_bad_node_settings(props, message):
    with pytest.raises(ConfigError) as err:
        node_settings(props, "m")
    assert message in str(err.value)


def test_node_settings_defaults():
    assert node_settings({}, "m") == NodeSettings(ready_timeout=300, master_timeout=900)


@pytest.mark.parametrize("props,message", [
    ({"drain_timeout": 0}, "node minions: drain_timeout 0 must be above 0 seconds (the default is 120)"),
    ({"drain_timeout": "60"}, "node minions: drain_timeout '60' is not a whole number"),
    ({"force_drain": "yes"}, "node minions: force_drain 'yes' is not true or false"),
])
def test_bad_drain_settings(props, message):
    with pytest.raises(ConfigError) as err:
        drain_settings(props, "minions")
    assert message in str(err.value)


def test_drain_settings_defaults_and_values():
    assert drain_settings({}, "minions") == DrainSettings(drain_timeout=120, force_drain=False)
    assert drain_settings({"drain_timeout": 15, "force_drain": True}, "minions") == DrainSettings(15, True)


def test_ips_must_be_a_list():
    assert host_addresses({"ip": "10.0.0.1", "ips": ["10.0.0.2"]}, "m") == ["10.0.0.1", "10.0.0.2"]
    with pytest.raises(ConfigError, match="node m: ips '10.0.0.2' is not a list"):
        host_addresses({"ips": "10.0.0.2"}, "m")


@pytest.mark.parametrize("minions,cluster,message", [
    (["10.0.0.2", "10.0.0.1"], {}, "10.0.0.1: listed as a minion but it is already the master"),
    (["10.0.0.2", "10.0.0.2"], {}, "10.0.0.2: listed as a minion but it is already a minion"),
    (["10.244.3.7"], {}, "10.244.3.7: the host's address is inside cluster.pod_network_cidr 10.244.0.0/16"),
    (["10.0.0.2"], {"service_cidr": "10.0.0.0/16", "pod_network_cidr": "10.244.0.0/16"},
     "10.0.0.1: the host's address is inside cluster.service_cidr 10.0.0.0/16"),
])
def test_hosts_listed_twice_or_inside_the_cluster_networks(minions, cluster, message):
    with pytest.raises(ConfigError) as err:
        check_hosts("10.0.0.1", minions, ClusterSettings(**cluster))
    assert message in str(err.value)


def test_distinct_hosts_pass():
    check_hosts("10.0.0.1", ["10.0.0.2", "10.0.0.3"], ClusterSettings())


def test_an_ssh_agent_is_a_credential_and_a_passphrase_needs_its_key(monkeypatch):
    monkeypatch.setenv("SSH_AUTH_SOCK", "/run/agent.sock")
    assert ssh_settings({"ssh": {}}, "10.0.0.1").private_key_path == ""
    with pytest.raises(ConfigError, match="10.0.0.1: ssh.private_key_passphrase is set but no key is given"):
        ssh_settings({"ssh": {"private_key_passphrase": "s3cret-pass"}}, "10.0.0.1")
    settings = ssh_settings({"ssh": {"private_key_path": "/k", "private_key_passphrase": "s3cret-pass"}}, "10.0.0.1")
    assert "s3cret-pass" not in repr(settings)
    monkeypatch.delenv("SSH_AUTH_SOCK")
    with pytest.raises(ConfigError, match="or run cfy with an ssh-agent that holds the key"):
        ssh_settings({"ssh": {}}, "10.0.0.1")


def test_masters_listed_twice_or_as_minions():
    with pytest.raises(ConfigError, match="10.0.0.1: listed twice as a master"):
        check_hosts(["10.0.0.1", "10.0.0.2", "10.0.0.1"], [], ClusterSettings())
    with pytest.raises(ConfigError, match="10.0.0.2: listed as a minion but it is already a master"):
        check_hosts(["10.0.0.1", "10.0.0.2", "10.0.0.3"], ["10.0.0.2"], ClusterSettings())
