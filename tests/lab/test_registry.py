"""The lab's image registry (Debian's docker-registry with images built from Debian's busybox-static) and kub's
registry mirrors on a real containerd: the hosts.toml files kub writes make containerd pull registry.k8s.io's and
docker.io's images from the lab, and a reset leaves the host's own registry settings as they were."""
import json
import logging
import urllib.error
import urllib.request

import pytest
from kubeadm_cluster import containerd_release, ok

from kub_lab import registry
from kub_plugin.cluster import registries
from kub_plugin.cluster.properties import ssh_settings
from kub_plugin.hosts import state
from kub_plugin.hosts.ssh import Host

pytestmark = pytest.mark.lab
HOST = 4
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
HOSTS_OWN = "/etc/containerd/certs.d/docker.io/hosts.toml"
HOSTS_OWN_TEXT = 'server = "https://registry-1.docker.io"\n\n[host."https://docker-mirror.example"]\n'


def get(url, method="GET"):
    request = urllib.request.Request(url, method=method, headers={"Accept": MANIFEST})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def test_the_registry_serves_the_lab_images_read_only_and_the_inputs_name_it(lab):
    inputs = lab.inputs()
    mirror = {"mirrors": [lab.registry_url], "plain_http": True}
    assert inputs["registry_mirrors"] == {"registry.k8s.io": mirror, "docker.io": mirror}
    assert registries.check(inputs["registry_mirrors"])   # what kub takes
    assert "web_image" not in inputs
    assert lab.inputs(examples=True)["web_image"] == "docker.io/kublab/web:1.0"
    for name in registry.IMAGES:
        repository, tag = name.split(":")
        status, body = get(f"{lab.registry_url}/v2/{repository}/manifests/{tag}")
        assert status == 200, name
        config = json.loads(get(f"{lab.registry_url}/v2/{repository}/blobs/"
                                f"{json.loads(body)['config']['digest']}")[1])
        assert config["architecture"] == "amd64" and config["config"]["Env"] == ["PATH=/bin"]
    # the hosts reach it too; nobody can push to it
    assert ok(lab, 2, f"curl -s -o /dev/null -w '%{{http_code}}' {lab.registry_url}/v2/") == "200"
    assert get(f"{lab.registry_url}/v2/kublab/web/blobs/uploads/", method="POST")[0] == 405
    assert lab.status()["registry"]["url"] == lab.registry_url


def run_script(lab, i, script, env):
    settings = ssh_settings({"ssh": {"private_key_path": lab.ssh_private_key_path,
                                     "known_hosts_path": lab.known_hosts_path, "connect_timeout": 5}},
                            lab.host_ip(i))
    with Host(settings, logging.getLogger("kub-test")) as host:
        result = host.run_script(script, env={**state.SCRIPT_ENV, **env}, timeout=300,
                                 lock=(state.LOCK_FILE, state.LOCK_WAIT_SECONDS))
    assert result.ok, result.stdout + result.stderr
    return [line[len("changed: "):] for line in result.stdout.splitlines() if line.startswith("changed: ")]


def test_containerd_pulls_through_kubs_mirrors_and_a_reset_gives_the_host_its_own_settings_back(lab,
                                                                                                 pristine_hosts):
    pristine_hosts(HOST)
    ok(lab, HOST, "apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl "
                  ">/dev/null 2>&1", timeout=300)
    ok(lab, HOST, containerd_release(lab, with_mirrors=False), timeout=300)
    # the host's own registry settings: a folder of hosts.toml files, and one for docker.io in kub's folder
    ok(lab, HOST, "sed -i \"s|^\\( *\\)config_path = ''$|\\1config_path = '/etc/docker/certs.d'|\" "
                  "/etc/containerd/config.toml && grep -c docker/certs.d /etc/containerd/config.toml")
    ok(lab, HOST, f"mkdir -p $(dirname {HOSTS_OWN}) && printf '{HOSTS_OWN_TEXT}' > {HOSTS_OWN}")
    config = ok(lab, HOST, "cat /etc/containerd/config.toml")
    mirrors = lab.inputs()["registry_mirrors"]
    files = registries.hosts_files(mirrors)
    changed = run_script(lab, HOST, "containerd.sh", {"KUB_REGISTRY_HOSTS": registries.script_value(mirrors)})
    certs = state.CONTAINERD_CERTS_DIR
    assert changed == [
        f"kept the host's own {HOSTS_OWN} as {HOSTS_OWN}{state.ORIGINAL_SUFFIX} (put back at uninstall)",
        *[f"wrote {path}" for path in files],
        f"kept the host's own /etc/containerd/config.toml as /etc/containerd/config.toml{state.ORIGINAL_SUFFIX} "
        f"(put back at uninstall)",
        f"wrote /etc/containerd/config.toml: the settings of /etc/containerd/config.toml with SystemdCgroup = true; "
        f"config_path = '{certs}:/etc/docker/certs.d'",
        "restarted containerd"]
    assert f"config_path = '{certs}:/etc/docker/certs.d'" in ok(lab, HOST, "containerd config dump")
    for path, text in files.items():
        assert ok(lab, HOST, f"cat {path}") == text
    # containerd's own client, told the folder, pulls both registries' images from the lab
    for name in (registry.IMAGE_NAMES["pause"], registry.IMAGE_NAMES["web"]):
        ok(lab, HOST, f"ctr -n k8s.io images pull --hosts-dir {certs} {name} >/dev/null", timeout=120)
    names = ok(lab, HOST, "ctr -n k8s.io images ls -q").split()
    assert sorted(n for n in names if not n.startswith("sha256:")) == sorted(
        [registry.IMAGE_NAMES["pause"], registry.IMAGE_NAMES["web"]])
    # again: no change; a registry the setting no longer names loses kub's files
    assert run_script(lab, HOST, "containerd.sh", {"KUB_REGISTRY_HOSTS": registries.script_value(mirrors)}) == []
    fewer = {"docker.io": mirrors["docker.io"]}
    assert run_script(lab, HOST, "containerd.sh", {"KUB_REGISTRY_HOSTS": registries.script_value(fewer)}) == [
        f"removed {certs}/registry.k8s.io/hosts.toml"]
    assert ok(lab, HOST, f"ls {certs}").split() == ["docker.io"]
    # the reset: kub's files go, the host's own come back (and containerd restarts with its own config)
    changed = run_script(lab, HOST, "reset.sh", {"KUB_CRI_SOCKET": "unix:///var/run/containerd/containerd.sock"})
    assert f"put back the host's own {HOSTS_OWN}" in changed and "restarted containerd" in changed
    assert ok(lab, HOST, f"cat {HOSTS_OWN}") == HOSTS_OWN_TEXT
    assert ok(lab, HOST, f"find {certs} | sort").split() == [certs, f"{certs}/docker.io", HOSTS_OWN]
    assert ok(lab, HOST, "cat /etc/containerd/config.toml") == config
    pristine_hosts(HOST)
