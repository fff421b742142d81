"""cluster.registry_mirrors: where containerd pulls a registry's images from, as containerd's own registry hosts
configuration takes it (config_path): /etc/containerd/certs.d/<registry>/hosts.toml names the mirrors, tried in
order before the registry itself, and a mirror's private CA lies beside it as ca.crt. Checked here before any host
is touched; scripts/containerd.sh writes the files as kub's own and points containerd's config_path at the folder.

    registry_mirrors:
      registry.k8s.io: {mirrors: ['https://mirror.example:5000'], ca: "-----BEGIN CERTIFICATE-----..."}
      docker.io: {mirrors: ['http://10.0.0.5:5000'], plain_http: true}
"""
import base64
import re
from urllib.parse import urlsplit

from cryptography import x509

from ..errors import ConfigError
from ..hosts import state

SETTINGS = ("mirrors", "plain_http", "ca")
# a registry as images name it: a DNS name or an IPv4 address, with a port or without (docker.io, 10.0.0.5:5000)
REGISTRY = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*(:[0-9]{1,5})?"
# what a hosts.toml line may quote: no quotes, backslashes, white space or control characters
URL_TEXT = r"[^\s\"'\\\x00-\x1f\x7f]+"


def check(value):
    """The setting as {registry: {"mirrors": (URL, ...), "plain_http": bool, "ca": PEM}}; a bad one is refused."""
    if not isinstance(value, dict):
        raise ConfigError(f"cluster.registry_mirrors {value!r} is not a mapping: give each registry's mirrors, e.g. "
                          f"{{docker.io: {{mirrors: ['https://mirror.example']}}}}")
    return {_registry(name): _mirror_settings(name, settings) for name, settings in value.items()}


def _registry(name):
    if not isinstance(name, str) or not re.fullmatch(REGISTRY, name, re.ASCII) or \
            (":" in name and not 1 <= int(name.rsplit(":", 1)[1]) <= 65535):
        raise ConfigError(f"cluster.registry_mirrors: {name!r} is not a registry: give its name as images name it, "
                          f"e.g. docker.io, registry.k8s.io or 10.0.0.5:5000")
    return name.lower()


def _mirror_settings(name, settings):
    where = f"cluster.registry_mirrors.{name}"
    if not isinstance(settings, dict):
        raise ConfigError(f"{where} {settings!r} is not a mapping: give its mirrors, e.g. "
                          f"{{mirrors: ['https://mirror.example']}}")
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(map(str, unknown))}: use {', '.join(SETTINGS)}")
    mirrors, plain_http, ca = settings.get("mirrors"), settings.get("plain_http", False), settings.get("ca", "")
    if not isinstance(mirrors, list) or not mirrors:
        raise ConfigError(f"{where}.mirrors {mirrors!r} is not a list of URLs: give one mirror or more, in the order "
                          f"containerd tries them, e.g. ['https://mirror.example:5000']")
    if not isinstance(plain_http, bool):
        raise ConfigError(f"{where}.plain_http {plain_http!r} is not true or false")
    for url in mirrors:
        _mirror_url(where, url, plain_http)
    if not isinstance(ca, str):
        raise ConfigError(f"{where}.ca {ca!r} is not text: give the CA certificate (PEM) the mirrors' certificates "
                          f"are signed with")
    if ca:
        _certificate(where, ca)
    return {"mirrors": tuple(mirrors), "plain_http": plain_http, "ca": ca.strip()}


def _mirror_url(where, url, plain_http):
    parts = urlsplit(url) if isinstance(url, str) and re.fullmatch(URL_TEXT, url) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"{where}.mirrors: {url!r} is not a mirror URL: give http(s)://host[:port][/path], "
                          f"e.g. https://mirror.example:5000")
    if parts.scheme == "http" and not plain_http:
        raise ConfigError(f"{where}.mirrors: {url} is plain http, which anyone on the way can change: use https "
                          f"(with ca for a private CA), or set {where}.plain_http: true for a mirror on a network "
                          f"you trust")


def _certificate(where, pem):
    why = "" if "-----BEGIN CERTIFICATE-----" in pem else "no certificate in it"
    try:
        why = why or ("" if x509.load_pem_x509_certificates(pem.encode()) else "no certificate in it")
    except ValueError:
        why = "it does not read as a certificate"
    if why:
        raise ConfigError(f"{where}.ca is not a PEM certificate ({why}): give the CA's certificate, from "
                          f"-----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----")


def hosts_files(registry_mirrors):
    """{path: content} of the files containerd reads for these mirrors (cluster.registry_mirrors)."""
    files = {}
    for registry, settings in sorted(check(registry_mirrors).items()):
        folder = f"{state.CONTAINERD_CERTS_DIR}/{registry}"
        ca = f"{folder}/ca.crt" if settings["ca"] else ""
        lines = [f"# kub's (cluster.registry_mirrors): {registry}'s images are pulled from these mirrors, in order, "
                 f"then from {registry} itself"]
        for url in settings["mirrors"]:
            lines += ["", f'[host."{url}"]', '  capabilities = ["pull", "resolve"]']
            lines += [f'  ca = "{ca}"'] if ca and url.startswith("https://") else []
        files[f"{folder}/hosts.toml"] = "\n".join(lines) + "\n"
        if ca:
            files[ca] = settings["ca"] + "\n"
    return files


def script_value(registry_mirrors):
    """The files as containerd.sh takes them (KUB_REGISTRY_HOSTS): a line per file, its path and its base64."""
    return "\n".join(f"{path} {base64.b64encode(content.encode()).decode()}"
                     for path, content in hosts_files(registry_mirrors).items())
