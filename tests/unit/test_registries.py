"""cluster.registry_mirrors: checked before any host is touched, rendered as containerd's hosts.toml files, and
containerd's config_path pointed at them by scripts/lib.sh (on the default configs of containerd 2.1 and 1.6)."""
import base64
import datetime
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kub_plugin.cluster import registries
from kub_plugin.cluster.properties import cluster_settings
from kub_plugin.errors import ConfigError
from kub_plugin.hosts import state

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / "scripts" / "lib.sh"
CONFIGS = Path(__file__).parent / "data" / "containerd"
CERTS = state.CONTAINERD_CERTS_DIR


def ca_pem():
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mirror-ca")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA = ca_pem()


def test_each_registry_gets_a_hosts_toml_naming_its_mirrors_in_order_and_its_ca_beside_it():
    files = registries.hosts_files({
        "docker.io": {"mirrors": ["https://mirror.example:5000", "https://second.example/v2/docker"], "ca": CA},
        "Registry.K8s.io": {"mirrors": ["http://10.0.0.5:5000"], "plain_http": True}})
    assert files == {
        f"{CERTS}/docker.io/hosts.toml": (
            "# kub's (cluster.registry_mirrors): docker.io's images are pulled from these mirrors, in order, then "
            "from docker.io itself\n"
            "\n"
            '[host."https://mirror.example:5000"]\n'
            '  capabilities = ["pull", "resolve"]\n'
            f'  ca = "{CERTS}/docker.io/ca.crt"\n'
            "\n"
            '[host."https://second.example/v2/docker"]\n'
            '  capabilities = ["pull", "resolve"]\n'
            f'  ca = "{CERTS}/docker.io/ca.crt"\n'),
        f"{CERTS}/docker.io/ca.crt": CA.strip() + "\n",
        f"{CERTS}/registry.k8s.io/hosts.toml": (
            "# kub's (cluster.registry_mirrors): registry.k8s.io's images are pulled from these mirrors, in order, "
            "then from registry.k8s.io itself\n"
            "\n"
            '[host."http://10.0.0.5:5000"]\n'
            '  capabilities = ["pull", "resolve"]\n')}
    assert registries.hosts_files({}) == {}


def test_the_script_gets_each_file_as_its_path_and_its_base64_on_a_line():
    mirrors = {"docker.io": {"mirrors": ["https://m.example"], "ca": CA}, "quay.io": {"mirrors": ["https://q.example"]}}
    lines = registries.script_value(mirrors).splitlines()
    decoded = dict((path, base64.b64decode(data).decode()) for path, data in (line.split(" ") for line in lines))
    assert decoded == registries.hosts_files(mirrors)
    assert registries.script_value({}) == ""


@pytest.mark.parametrize("value,message", [
    (["docker.io"], "cluster.registry_mirrors ['docker.io'] is not a mapping: give each registry's mirrors, e.g. "
                    "{docker.io: {mirrors: ['https://mirror.example']}}"),
    ({"https://docker.io": {"mirrors": ["https://m.example"]}},
     "cluster.registry_mirrors: 'https://docker.io' is not a registry: give its name as images name it, e.g. "
     "docker.io, registry.k8s.io or 10.0.0.5:5000"),
    ({"10.0.0.5:70000": {"mirrors": ["https://m.example"]}}, "'10.0.0.5:70000' is not a registry"),
    ({"docker.io": "https://m.example"}, "cluster.registry_mirrors.docker.io 'https://m.example' is not a mapping: "
                                         "give its mirrors, e.g. {mirrors: ['https://mirror.example']}"),
    ({"docker.io": {"mirror": ["https://m.example"]}},
     "cluster.registry_mirrors.docker.io: unknown setting(s) mirror: use mirrors, plain_http, ca"),
    ({"docker.io": {"mirrors": "https://m.example"}},
     "cluster.registry_mirrors.docker.io.mirrors 'https://m.example' is not a list of URLs: give one mirror or more, "
     "in the order containerd tries them, e.g. ['https://mirror.example:5000']"),
    ({"docker.io": {"mirrors": []}}, "cluster.registry_mirrors.docker.io.mirrors [] is not a list of URLs"),
    ({"docker.io": {"mirrors": ["ftp://m.example"]}},
     "cluster.registry_mirrors.docker.io.mirrors: 'ftp://m.example' is not a mirror URL: give "
     "http(s)://host[:port][/path], e.g. https://mirror.example:5000"),
    ({"docker.io": {"mirrors": ['https://m.example/"x']}}, "'https://m.example/\"x' is not a mirror URL"),
    ({"docker.io": {"mirrors": ["https://m.example/?a=b"]}}, "'https://m.example/?a=b' is not a mirror URL"),
    ({"docker.io": {"mirrors": ["http://10.0.0.5:5000"]}},
     "cluster.registry_mirrors.docker.io.mirrors: http://10.0.0.5:5000 is plain http, which anyone on the way can "
     "change: use https (with ca for a private CA), or set cluster.registry_mirrors.docker.io.plain_http: true for a "
     "mirror on a network you trust"),
    ({"docker.io": {"mirrors": ["http://10.0.0.5:5000"], "plain_http": "yes"}},
     "cluster.registry_mirrors.docker.io.plain_http 'yes' is not true or false"),
    ({"docker.io": {"mirrors": ["https://m.example"], "ca": "my CA"}},
     "cluster.registry_mirrors.docker.io.ca is not a PEM certificate (no certificate in it): give the CA's "
     "certificate, from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----"),
    ({"docker.io": {"mirrors": ["https://m.example"], "ca": CA.replace("M", "!", 3)}},
     "cluster.registry_mirrors.docker.io.ca is not a PEM certificate (it does not read as a certificate)"),
    ({"docker.io": {"mirrors": ["https://m.example"], "ca": 5}}, "cluster.registry_mirrors.docker.io.ca 5 is not text"),
])
def test_bad_mirrors_are_refused_in_one_line_naming_the_setting(value, message):
    with pytest.raises(ConfigError) as err:
        cluster_settings({"cluster": {"registry_mirrors": value}})
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_cluster_settings_keep_the_mirrors_as_given():
    given = {"docker.io": {"mirrors": ["http://10.0.0.5:5000"], "plain_http": True}}
    assert cluster_settings({"cluster": {"registry_mirrors": given}}).registry_mirrors == given
    assert cluster_settings({}).registry_mirrors == {}


def lib(call, text):
    return subprocess.run(["bash", "-c", f". {LIB}; {call}"], input=text, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "KUB_CONTAINERD_CERTS_DIR": CERTS})


def config_path_lines(text):
    return [line.strip() for line in text.splitlines() if line.strip().startswith("config_path")]


@pytest.mark.parametrize("config,before,after", [
    # containerd 2.x: the CRI images plugin's registry; the transfer plugin's config_path stays
    ("default-2.1.9.toml", ["config_path = ''", "config_path = ''"],
     [f"config_path = '{CERTS}'", "config_path = ''"]),
    # containerd 1.x: the CRI plugin's registry
    ("default-1.6.20.toml", ['config_path = ""'], [f'config_path = "{CERTS}"']),
])
def test_config_path_names_kubs_folder_in_the_cri_registry_section_only(config, before, after):
    text = (CONFIGS / config).read_text()
    assert config_path_lines(text) == before
    out = lib('registry_config_path "$(cat)"', text)
    assert out.returncode == 0, out.stderr
    assert config_path_lines(out.stdout) == after
    # nothing else changed
    changed = [(a, b) for a, b in zip(text.splitlines(), out.stdout.splitlines()) if a != b]
    assert len(changed) == 1 and len(text.splitlines()) == len(out.stdout.splitlines())
    # a second pass changes nothing
    assert lib('registry_config_path "$(cat)"', out.stdout).stdout == out.stdout
    assert lib('old_registries "$(cat)"', text).returncode == 1


def test_the_hosts_own_registry_folders_stay_after_kubs():
    text = (CONFIGS / "default-1.6.20.toml").read_text().replace('config_path = ""',
                                                                 'config_path = "/etc/docker/certs.d"')
    assert config_path_lines(lib('registry_config_path "$(cat)"', text).stdout) == [
        f'config_path = "{CERTS}:/etc/docker/certs.d"']
    text = text.replace("/etc/docker/certs.d", f"/srv/certs:{CERTS}/")
    assert lib('registry_config_path "$(cat)"', text).stdout.rstrip("\n") == text.rstrip("\n")


def test_registries_set_the_old_way_are_found_and_a_config_without_config_path_fails():
    text = (CONFIGS / "default-1.6.20.toml").read_text().replace(
        '[plugins."io.containerd.grpc.v1.cri".registry.mirrors]',
        '[plugins."io.containerd.grpc.v1.cri".registry.mirrors]\n'
        '        [plugins."io.containerd.grpc.v1.cri".registry.mirrors."docker.io"]\n'
        '          endpoint = ["https://m.example"]')
    assert lib('old_registries "$(cat)"', text).returncode == 0
    assert lib('registry_config_path "$(cat)"', "version = 3\n[plugins]\n").returncode == 1
