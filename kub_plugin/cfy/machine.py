"""What an operation or a workflow reads and writes on the machine running cfy: the manifests' sources, the admin
kubeconfig."""
import os

from ..errors import ConfigError
from ..local import kubeconfig, manifests
from . import deployment
from .errors import save


def manifest_sources(ctx, allow_plain_http):
    """Where this operation may read manifests from: absolute paths only in local mode (see local.manifests.Sources)."""
    return manifests.Sources(ctx.get_resource, deployment.is_local(deployment.operation_storage(ctx)), allow_plain_http)


def workflow_manifest_sources(ctx, local_mode, allow_plain_http):
    """Where a workflow may read manifests from (local.manifests.Sources): a file beside the blueprint (local mode:
    cfy's copy of its folder; a manager: its upload), a URL, and an absolute path only in local mode."""
    def read(path):
        local_copy = ctx.download_resource(path)
        try:
            with open(local_copy, "rb") as f:
                return f.read()
        finally:
            os.unlink(local_copy)
    return manifests.Sources(read, local_mode, allow_plain_http)


def kubeconfig_setting(ctx):
    """local_kubeconfig_path: a path here, given only in local mode (on a manager it would name a file of the
    worker; there kub writes its default file)."""
    path = ctx.node.properties.get("local_kubeconfig_path") or ""
    if not isinstance(path, str) or path.endswith("/"):
        raise ConfigError(f"local_kubeconfig_path {path!r} is not a file path: give a file's path, e.g. "
                          f"~/.kube/kub-{ctx.deployment.id}.conf, or leave it empty")
    if path and not deployment.is_local(deployment.operation_storage(ctx)):
        raise ConfigError(f"local_kubeconfig_path {path} names a file of the Cloudify Manager's worker: leave it "
                          f"empty there (kub writes ~/.kube/kub-{ctx.deployment.id}.conf), or use the SSH user's "
                          f"~/.kube/config on the master")
    return path


def save_kubeconfig(ctx, text):
    """Writes the admin kubeconfig for the machine running cfy, mode 0600, only when it changed, and never over a
    file kub did not write (beside it then). What it writes is recorded (its sha256) before it is written."""
    wanted = kubeconfig_setting(ctx) or kubeconfig.default_path(ctx.deployment.id)
    wanted = os.path.abspath(os.path.expanduser(wanted))
    props = ctx.instance.runtime_properties
    recorded = {props["kubeconfig_path"]: props.get("kubeconfig_sha256")} if props.get("kubeconfig_path") else {}
    path, found = kubeconfig.place(wanted, text, recorded, ctx.deployment.id)
    if found:
        ctx.logger.warning(f"local_kubeconfig_path {found} is a file kub did not write: left as it is; the admin "
                           f"kubeconfig goes beside it, to {path}")
    sha256 = kubeconfig.sha256(text)
    if recorded != {path: sha256}:
        save(ctx, kubeconfig_path=path, kubeconfig_sha256=sha256)
    if kubeconfig.write(path, text):
        ctx.logger.info(f"admin kubeconfig written to {path} (mode 0600)")
    return path
