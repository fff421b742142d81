"""Input checks: each bad input is one line naming the setting and the fix."""
import pytest

from kub_plugin.config import ClusterSettings, ConfigError, cluster_settings, distinct_hosts, ssh_settings

KEY = {"ssh": {"private_key_path": "/k"}}

BAD_CLUSTERS = [
    ({"kubernetes_version": "1.31.2"}, "not a minor version"),
    ({"kubernetes_version": "latest"}, "not a minor version"),
    ({"pod_network_cidr": "10.244.0.0/33"}, "pod_network_cidr '10.244.0.0/33' is not a valid CIDR"),
    ({"service_cidr": "10.96.0.1/12"}, "service_cidr '10.96.0.1/12' is not a valid CIDR"),
    ({"pod_network_cidr": "10.0.0.0/8", "service_cidr": "10.96.0.0/12"}, "overlap"),
    ({"package_repository_url": "pkgs.k8s.io/core"}, "not an http(s):// or file:// URL"),
    ({"flavour": "x"}, "unknown cluster setting(s) flavour"),
]


@pytest.mark.parametrize("cluster,message", BAD_CLUSTERS)
def test_bad_cluster_settings(cluster, message):
    with pytest.raises(ConfigError) as err:
        cluster_settings({"cluster": cluster})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_defaults_are_valid_and_format_the_repository_per_minor():
    settings = cluster_settings({"cluster": {"kubernetes_version": "1.30"}})
    assert settings.repository_url == "https://pkgs.k8s.io/core:/stable:/v1.30/deb/"
    assert settings.repository_key_url == "https://pkgs.k8s.io/core:/stable:/v1.30/deb/Release.key"
    mirror = ClusterSettings(package_repository_url="http://mirror/k8s/{version}")
    assert mirror.repository_url == "http://mirror/k8s/1.31/"


@pytest.mark.parametrize("props,ip,message", [
    (KEY, "10.0.0.300", "'10.0.0.300': not an IP address"),
    ({"ssh": {}}, "10.0.0.1", "10.0.0.1: no SSH credential"),
    ({"ssh": {"private_key_path": "/k", "host_key_fingerprint": "ab:cd"}}, "10.0.0.1", "SHA256:"),
    ({"ssh": {"private_key_path": "/k", "user": ""}}, "10.0.0.1", "ssh.user is empty"),
])
def test_bad_ssh_settings(props, ip, message):
    with pytest.raises(ConfigError, match=None) as err:
        ssh_settings(props, ip)
    assert message in str(err.value)


def test_ssh_settings_keep_secrets_out_of_repr():
    settings = ssh_settings({"ssh": {"password": "hunter2", "sudo_password": "s3cret", "private_key": "KEY"}},
                            "10.0.0.1")
    assert "hunter2" not in repr(settings) and "s3cret" not in repr(settings) and "KEY" not in repr(settings)


@pytest.mark.parametrize("minions,message", [
    (["10.0.0.2", "10.0.0.1"], "10.0.0.1: listed as a minion but it is already the master"),
    (["10.0.0.2", "10.0.0.2"], "10.0.0.2: listed as a minion but it is already a minion"),
])
def test_hosts_listed_twice(minions, message):
    with pytest.raises(ConfigError) as err:
        distinct_hosts("10.0.0.1", minions)
    assert message in str(err.value)


def test_distinct_hosts_pass():
    distinct_hosts("10.0.0.1", ["10.0.0.2", "10.0.0.3"])
