"""kubeadm upgrade plan | apply | node, with the real kubeadm's checks and words (cmd/kubeadm/app/cmd/upgrade,
cmd/kubeadm/app/cmd/phases/upgrade, cmd/kubeadm/app/phases/upgrade/policy.go).

- apply: root, the control-plane nodes Ready and their static pod manifests there, then the version policy:
  one minor at a time up, no more than one down, never above kubeadm's own minor (fatal); a patch above
  kubeadm's, a kubeadm newer than the target, kubelets too old (skippable with --force). It then rewrites the
  control-plane manifests with the new images (backed up under /etc/kubernetes/tmp), waits until the kubelet runs
  them (the API server's /version says the new version), stores kubernetesVersion in the kubeadm-config ConfigMap,
  writes this node's kubelet configuration and the kube-proxy addon of the new version.
- node: on a worker, writes the kubelet-config ConfigMap's configuration to /var/lib/kubelet/config.yaml (the old
  one backed up); the kubelet package is upgraded afterwards with the package manager.
- plan: the versions, and the components a `kubeadm upgrade apply` to this kubeadm's version would change.
"""
import hashlib
import ipaddress
import os
import shutil
import sys
import time

from kube import client as kclient
from kube import common, util
from kube.kubeadm import Checks, PhaseError, addons, configmap, create_or_replace, err, get_or_none, out, root_check
from kube.version import VERSION

CONFIG_PATH = "/api/v1/namespaces/kube-system/configmaps/"
COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
TMP_DIR = "/etc/kubernetes/tmp"
MANIFEST_TIMEOUT = 300   # kubeadm's UpgradeManifestTimeout, 5m0s


def semver(text):
    """(major, minor, patch) of v1.36.3 or 1.36.3; None if it is not one."""
    try:
        major, minor, patch = (int(x) for x in text.lstrip("v").split("-")[0].split("."))
        return major, minor, patch
    except ValueError:
        return None


def client_for(path):
    if not os.path.exists(path):
        raise PhaseError(None, 'couldn\'t create a Kubernetes client from file "%s": failed to load admin kubeconfig: '
                               'open %s: no such file or directory' % (path, path))
    return kclient.client_from_kubeconfig(path, timeout=10)


def read_cluster_config(api):
    out('[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...')
    out("[upgrade] Use 'kubeadm init phase upload-config --config your-config-file' to re-upload it.")
    cm = get_or_none(api, CONFIG_PATH + "kubeadm-config")
    if cm is None:
        raise PhaseError(None, 'the ConfigMap "kubeadm-config" in the kube-system namespace used for getting '
                               'configuration information was not found')
    return util.yaml_load_all(cm["data"]["ClusterConfiguration"])[0]


def cluster_version(api):
    return api.get("/version")["gitVersion"]


def kubelet_versions(api):
    """{node name: kubelet version}."""
    return {n["metadata"]["name"]: ((n.get("status") or {}).get("nodeInfo") or {}).get("kubeletVersion", "")
            for n in api.get("/api/v1/nodes")["items"]}


def ready(node):
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (node.get("status") or {}).get("conditions") or [])


def health_checks(api, ignored):
    """upgrade.CheckClusterHealth: the control-plane nodes Ready, their static pod manifests in place."""
    out("[upgrade] Running cluster health checks")
    c = Checks(ignored)
    nodes = api.get("/api/v1/nodes", labelSelector="node-role.kubernetes.io/control-plane")["items"]
    not_ready = [n["metadata"]["name"] for n in nodes if not ready(n)]
    if not nodes:
        c.add("ControlPlaneNodesReady", "couldn't find any control-plane nodes in the cluster")
    elif not_ready:
        c.add("ControlPlaneNodesReady", "there are NotReady control-planes in the cluster: [%s]" % " ".join(not_ready))
    for comp in COMPONENTS + ("etcd",):
        path = os.path.join(common.MANIFESTS_DIR, comp + ".yaml")
        if not os.path.exists(path):
            c.add("StaticPodManifest", "manifest for component %s is not available: stat %s: no such file or "
                                       "directory" % (comp, path))
    c.finish()


def version_policy(api, target, force):
    """policy.go's EnforceVersionPolicies, then the apply preflight's verdict."""
    out('[upgrade/preflight] You have chosen to upgrade the cluster version to "%s"' % target)
    current = cluster_version(api)
    out("[upgrade/versions] Cluster version: %s" % current)
    out("[upgrade/versions] kubeadm version: v%s" % VERSION)
    new, have, kubeadm_v = semver(target), semver(current), semver(VERSION)
    mandatory, skippable = [], []
    if new[1] > have[1] + 1:
        mandatory.append('Specified version to upgrade to "%s" is too high; kubeadm can upgrade only 1 minor version '
                         'at a time' % target)
    if new[1] < have[1] - 1:
        mandatory.append('Specified version to downgrade to "%s" is too low; kubeadm can downgrade only 1 minor '
                         'version at a time' % target)
    if kubeadm_v < new:
        if new[1] > kubeadm_v[1]:
            mandatory.append('Specified version to upgrade to "%s" is at least one minor release higher than the '
                             'kubeadm minor release (%d > %d). Such an upgrade is not supported'
                             % (target, new[1], kubeadm_v[1]))
        else:
            skippable.append('Specified version to upgrade to "%s" is higher than the kubeadm version "v%s". Upgrade '
                             'kubeadm first using the tool you used to install kubeadm' % (target, VERSION))
    if kubeadm_v[:2] > new[:2]:
        skippable.append("Kubeadm version v%s can only be used to upgrade to Kubernetes version %d.%d"
                         % (VERSION, kubeadm_v[0], kubeadm_v[1]))
    old = sorted({v for v in kubelet_versions(api).values() if semver(v) and new[1] > semver(v)[1] + 1})
    if old:
        skippable.append("There are kubelets in this cluster that are too old that have these versions [%s]"
                         % " ".join(old))

    def listed(errors):
        return "".join("\t- %s\n" % e for e in errors)

    if mandatory:
        raise PhaseError("preflight", "the version argument is invalid due to these fatal errors:\n\n%s\nPlease fix "
                                      "the misalignments highlighted above and try upgrading again" % listed(mandatory))
    if skippable and not force:
        raise PhaseError("preflight", "the version argument is invalid due to these errors:\n\n%s\nCan be bypassed if "
                                      "you pass the --force flag" % listed(skippable))
    if skippable:
        out("[upgrade/preflight] Found %d potential version compatibility errors but skipping since the --force flag "
            "is set: \n\n%s" % (len(skippable), listed(skippable)))


def confirm():
    sys.stdout.write("[upgrade] Are you sure you want to proceed? [y/N]: ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    if answer not in ("y", "yes"):
        raise PhaseError("preflight", "won't proceed; the user didn't answer (Y|y) in order to continue")


def backup_dir(kind):
    path = os.path.join(TMP_DIR, "kubeadm-%s-%s" % (kind, time.strftime("%Y-%m-%d-%H-%M-%S")))
    os.makedirs(path, exist_ok=True)
    return path


def running_hash(name):
    """The manifest hash of the static pod unit the kubelet runs for `name`, if it runs."""
    from kube.kubelet import StaticPods  # the kubelet's own view of its static pods
    active, h = StaticPods.running().get(name, (False, ""))
    return h if active else ""


def upgrade_control_plane(api, target, timeout):
    out('[upgrade/control-plane] Upgrading your static Pod-hosted control plane to version "%s" (timeout: %s)...'
        % (target, util.format_duration(timeout)))
    backup = backup_dir("backup-manifests")
    out("[upgrade/staticpods] Current and new manifests of etcd are equal, skipping upgrade")
    for comp in COMPONENTS:
        path = os.path.join(common.MANIFESTS_DIR, comp + ".yaml")
        pod = util.yaml_load_all(util.read_text(path, ""))[0]
        container = pod["spec"]["containers"][0]
        image = container["image"].rsplit(":", 1)[0] + ":" + target
        out('[upgrade/staticpods] Preparing for "%s" upgrade' % comp)
        if container["image"] == image:
            out("[upgrade/staticpods] Current and new manifests of %s are equal, skipping upgrade" % comp)
            continue
        container["image"] = image
        text = util.yaml_dump(pod)
        shutil.copy2(path, os.path.join(backup, comp + ".yaml"))
        util.write_file(path, text, 0o600)
        out('[upgrade/staticpods] Moved new manifest to "%s" and backed up old manifest to "%s"'
            % (path, os.path.join(backup, comp + ".yaml")))
        out("[upgrade/staticpods] Waiting for the kubelet to restart the component")
        out("[upgrade/staticpods] This can take up to %s" % util.format_duration(timeout))
        want = hashlib.sha256(text.encode()).hexdigest()[:12]
        def restarted(comp=comp, want=want):
            try:   # the API server also says the new version once it answers again
                return running_hash(comp) == want and (comp != "kube-apiserver" or cluster_version(api) == target)
            except (kclient.ApiError, kclient.ConnectError, OSError):
                return False
        if not util.wait_until(restarted, timeout, 0.5):
            shutil.copy2(os.path.join(backup, comp + ".yaml"), path)
            raise PhaseError("control-plane", "couldn't upgrade control plane. kubeadm has tried to recover everything "
                                              "into the earlier state. Errors faced: timed out waiting for the "
                                              "condition: static Pod hash for component %s on Node %s did not change "
                                              "after %s" % (comp, common.hostname(), util.format_duration(timeout)))
        out('[upgrade/staticpods] Component "%s" upgraded successfully!' % comp)


def write_kubelet_config(api):
    """The kubelet-config ConfigMap's configuration to this node's /var/lib/kubelet/config.yaml, the old one kept."""
    cm = api.get(CONFIG_PATH + "kubelet-config")
    backup = backup_dir("kubelet-config")
    if os.path.exists(common.KUBELET_CONFIG):
        shutil.copy2(common.KUBELET_CONFIG, os.path.join(backup, "config.yaml"))
        out("[upgrade] Backing up kubelet config file to %s" % os.path.join(backup, "config.yaml"))
    out('[kubelet-start] Writing kubelet configuration to file "%s"' % common.KUBELET_CONFIG)
    util.write_file(common.KUBELET_CONFIG, cm["data"]["kubelet"], 0o644)
    out("[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!")


FLAGS = {"yes": False, "force": False, "dry-run": False, "etcd-upgrade": True, "certificate-renewal": True,
         "ignore-preflight-errors": [], "config": "", "kubeconfig": common.ADMIN_CONF, "v": "0", "patches": "",
         "allow-experimental-upgrades": False, "allow-release-candidate-upgrades": False, "print-config": False,
         "skip-phases": [], "help": False}


def cmd_apply(argv):
    f = util.Flags(dict(FLAGS), short={"y": "yes", "f": "force", "v": "v", "h": "help"}).parse(argv)
    if not f.args:
        raise PhaseError(None, "missing one or more required arguments. Required arguments: [version]")
    target = f.args[0] if f.args[0].startswith("v") else "v" + f.args[0]
    if semver(target) is None:
        raise PhaseError(None, 'couldn\'t parse Kubernetes version "%s"' % f.args[0])
    api = client_for(f["kubeconfig"])
    ccfg = read_cluster_config(api)
    out("[upgrade/preflight] Running preflight checks")
    ignored = list(f["ignore-preflight-errors"])
    root_check(ignored)
    health_checks(api, ignored)
    version_policy(api, target, f["force"])
    if not (f["yes"] or f["force"] or f["dry-run"]):
        confirm()
    if f["dry-run"]:
        out("[dryrun] Would pull the required images (like 'kubeadm config images pull')")
        out("[dryrun] Finished dryrunning successfully!")
        return 0
    out("[upgrade/preflight] Pulling images required for setting up a Kubernetes cluster")
    out("[upgrade/preflight] This might take a minute or two, depending on the speed of your internet connection")
    out("[upgrade/preflight] You can also perform this action beforehand using 'kubeadm config images pull'")
    upgrade_control_plane(api, target, MANIFEST_TIMEOUT)
    ccfg["kubernetesVersion"] = target
    out('[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace')
    create_or_replace(api, "/api/v1/namespaces/kube-system/configmaps",
                      configmap("kubeadm-config", "kube-system", {"ClusterConfiguration": util.yaml_dump(ccfg)}))
    out('[kubelet] Creating a ConfigMap "kubelet-config" in namespace kube-system with the configuration for the '
        'kubelets in the cluster')
    write_kubelet_config(api)
    out("[upgrade/bootstrap-token] Configuring bootstrap token and cluster-info RBAC rules")
    net = ccfg.get("networking") or {}
    server = "https://" + (ccfg.get("controlPlaneEndpoint") or api.server.split("://", 1)[-1])
    svc = net.get("serviceSubnet", "10.96.0.0/12").split(",")[0]
    dns_ip = str(ipaddress.ip_network(svc, strict=False).network_address + 10)
    addons(api, ccfg.get("imageRepository", "registry.k8s.io"), target, dns_ip, net.get("dnsDomain", "cluster.local"),
           net.get("podSubnet", ""), server)
    out("[addons] Applied essential addon: CoreDNS")
    out("[addons] Applied essential addon: kube-proxy")
    out("")
    out('[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "%s".' % target)
    out("")
    out("[upgrade] Now please proceed with upgrading the rest of the nodes by following the right order.")
    return 0


def cmd_node(argv):
    f = util.Flags(dict(FLAGS, kubeconfig=""), short={"v": "v", "h": "help"}).parse(argv)
    path = f["kubeconfig"] or (common.ADMIN_CONF if os.path.exists(common.ADMIN_CONF) else common.KUBELET_CONF)
    api = client_for(path)
    read_cluster_config(api)
    out("[upgrade/preflight] Running pre-flight checks")
    root_check(list(f["ignore-preflight-errors"]))
    control_plane = os.path.exists(os.path.join(common.MANIFESTS_DIR, "kube-apiserver.yaml"))
    if control_plane:
        raise PhaseError("control-plane", "upgrading a control-plane node with 'kubeadm upgrade node' is not "
                                          "emulated in the lab (one control plane: use 'kubeadm upgrade apply')")
    out("[upgrade/preflight] Skipping prepull. Not a control plane node.")
    out("[upgrade/control-plane] Skipping phase. Not a control plane node.")
    out("[upgrade/kubeconfig] Skipping phase. Not a control plane node.")
    if f["dry-run"]:
        out("[dryrun] Would write the kubelet configuration of the cluster to %s" % common.KUBELET_CONFIG)
        return 0
    write_kubelet_config(api)
    out("[upgrade/addon] Skipping the addon/coredns phase. Not a control plane node.")
    out("[upgrade/addon] Skipping the addon/kube-proxy phase. Not a control plane node.")
    out("[upgrade] The configuration for this node was successfully upgraded!")
    out("[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.")
    return 0


def cmd_plan(argv):
    f = util.Flags(dict(FLAGS), short={"v": "v", "h": "help"}).parse(argv)
    api = client_for(f["kubeconfig"])
    out("[preflight] Running pre-flight checks.")
    root_check(list(f["ignore-preflight-errors"]))
    read_cluster_config(api)
    health_checks(api, list(f["ignore-preflight-errors"]))
    out("[upgrade] Fetching available versions to upgrade to")
    current = cluster_version(api)
    out("[upgrade/versions] Cluster version: %s" % current)
    out("[upgrade/versions] kubeadm version: v%s" % VERSION)
    err("W%s [upgrade/versions] could not fetch a Kubernetes version from the internet: unable to get URL "
        '"https://dl.k8s.io/release/stable.txt"' % time.strftime("%m%d %H:%M:%S"))
    target = "v" + VERSION
    out("[upgrade/versions] Target version: %s" % target)
    if semver(target) <= semver(current):
        out("")
        out("Awesome, you're up-to-date! Enjoy!")
        return 0
    out("")
    out("Components that must be upgraded manually after you have upgraded the control plane with 'kubeadm upgrade "
        "apply':")
    rows = [("COMPONENT", "NODE", "CURRENT", "TARGET")]
    rows += [("kubelet", name, v, target) for name, v in sorted(kubelet_versions(api).items())]
    rows += [("", "", "", "")]
    rows += [("Upgrade to the latest stable version:", "", "", "")]
    rows += [("COMPONENT", "NODE", "CURRENT", "TARGET")]
    rows += [(comp, common.hostname(), current, target) for comp in COMPONENTS + ("kube-proxy",)]
    for row in rows:
        out(("%-26s%-16s%-12s%s" % row).rstrip() if row[1] else row[0])
    out("")
    out("You can now apply the upgrade by executing the following command:")
    out("")
    out("\tkubeadm upgrade apply %s" % target)
    return 0


def main(argv):
    sub = argv[0] if argv else ""
    handler = {"apply": cmd_apply, "node": cmd_node, "plan": cmd_plan}.get(sub)
    if handler is None:
        raise PhaseError(None, 'unknown command "%s" for "kubeadm upgrade"' % sub)
    return handler(argv[1:])
