"""flanneld: flannel's node daemon with its kube subnet manager and VXLAN backend, as the flannel DaemonSet's pod runs
it (`flanneld --ip-masq --kube-subnet-mgr`). It takes the node's podCIDR from its Node, the network from the
kube-flannel-cfg ConfigMap's net-conf.json, and then does on the host what flannel does:

- the VXLAN device flannel.<VNI> (UDP 8472 on the node's address), holding the subnet's first address as a /32,
  its MAC announced in the Node's flannel.alpha.coreos.com/* annotations;
- /run/flannel/subnet.env (FLANNEL_NETWORK, FLANNEL_SUBNET, FLANNEL_MTU, FLANNEL_IPMASQ), which the flannel CNI
  plugin reads for each pod;
- for every other node: a route to its subnet over flannel.<VNI>, the ARP entry of its gateway address and the
  forwarding entry sending that MAC to the node's address;
- with --ip-masq, flannel's FLANNEL-POSTRTG (nat) and FLANNEL-FWD (filter) chains.

It talks to the API server with the node's own credentials (the kubelet's kubeconfig); the real one uses its
ServiceAccount's.
"""
import ipaddress
import json
import os
import subprocess
import time

from kube import client as kclient
from kube import common, util

KUBECONFIG = common.KUBELET_CONF
SUBNET_ENV = "/run/flannel/subnet.env"
ANNOTATION = "flannel.alpha.coreos.com/"
VXLAN_OVERHEAD = 50
MASQ = "flanneld masq"
RESYNC = 10.0


def ip(*args, check=False):
    p = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and p.returncode != 0:
        raise RuntimeError("ip %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout


def net_conf(api, namespace):
    cm = api.get("/api/v1/namespaces/%s/configmaps/kube-flannel-cfg" % namespace)
    conf = json.loads((cm.get("data") or {}).get("net-conf.json") or "{}")
    backend = conf.get("Backend") or {}
    if (backend.get("Type") or "vxlan").lower() != "vxlan":
        raise SystemExit("flanneld: only the vxlan backend is stood in, not %s" % backend.get("Type"))
    return conf["Network"], int(backend.get("VNI", 1)), int(backend.get("Port", 8472))


def vxlan(device, vni, port, local, parent):
    """The VXLAN device, as flannel makes it; its MAC."""
    if not ip("-o", "link", "show", device).strip():
        ip("link", "add", device, "type", "vxlan", "id", str(vni), "local", local, "dev", parent, "dstport",
           str(port), "nolearning", check=True)
    mtu = int(ip("-o", "link", "show", parent).split(" mtu ")[1].split()[0]) - VXLAN_OVERHEAD
    ip("link", "set", device, "mtu", str(mtu), "up", check=True)
    return ip("-o", "link", "show", device).split("link/ether ")[1].split()[0], mtu


def masquerade(network, subnet):
    """flannel's --ip-masq rules (iptables-restore, chains declared anew: the same rules again change nothing)."""
    nat = ["*nat", ":FLANNEL-POSTRTG - [0:0]"]
    rules = [("-m mark --mark 0x4000/0x4000", "RETURN"), ("-s %s -d %s" % (subnet, network), "RETURN"),
             ("-s %s -d %s" % (network, subnet), "RETURN"), ("! -s %s -d %s" % (network, subnet), "RETURN"),
             ("-s %s ! -d 224.0.0.0/4" % network, "MASQUERADE --random-fully"),
             ("! -s %s -d %s" % (network, network), "MASQUERADE --random-fully")]
    nat += ['-A FLANNEL-POSTRTG %s -m comment --comment "%s" -j %s' % (m, MASQ, j) for m, j in rules]
    nat.append("COMMIT")
    fwd = ["*filter", ":FLANNEL-FWD - [0:0]", '-A FLANNEL-FWD -s %s -m comment --comment "flanneld forward" -j '
           'ACCEPT' % network, '-A FLANNEL-FWD -d %s -m comment --comment "flanneld forward" -j ACCEPT' % network,
           "COMMIT"]
    subprocess.run(["iptables-restore", "--noflush", "-w"], input="\n".join(nat + fwd) + "\n", text=True,
                   check=True, capture_output=True)
    for table, chain, jump, comment in (("nat", "POSTROUTING", "FLANNEL-POSTRTG", MASQ),
                                        ("filter", "FORWARD", "FLANNEL-FWD", "flanneld forward")):
        rule = ["-m", "comment", "--comment", comment, "-j", jump]
        if subprocess.run(["iptables", "-w", "-t", table, "-C", chain] + rule, capture_output=True).returncode:
            subprocess.run(["iptables", "-w", "-t", table, "-I", chain, "1"] + rule, check=True, capture_output=True)


def peers(nodes, me):
    """{subnet: (VTEP MAC, public IP)} of the other nodes that announced theirs."""
    out = {}
    for n in nodes:
        ann = n["metadata"].get("annotations") or {}
        cidr = (n.get("spec") or {}).get("podCIDR")
        if n["metadata"]["name"] == me or not cidr or ANNOTATION + "backend-data" not in ann:
            continue
        try:
            mac = json.loads(ann[ANNOTATION + "backend-data"])["VtepMAC"]
        except (ValueError, KeyError, TypeError):
            continue
        out[cidr] = (mac, ann.get(ANNOTATION + "public-ip", ""))
    return out


def program_peers(device, wanted, had):
    for cidr, (mac, public) in wanted.items():
        gateway = str(ipaddress.ip_network(cidr).network_address)
        ip("neigh", "replace", gateway, "lladdr", mac, "dev", device, "nud", "permanent")
        subprocess.run(["bridge", "fdb", "replace", mac, "dev", device, "dst", public, "self", "permanent"],
                       capture_output=True)
        ip("route", "replace", cidr, "via", gateway, "dev", device, "onlink")
    for cidr, (mac, public) in had.items():
        if cidr not in wanted:
            gateway = str(ipaddress.ip_network(cidr).network_address)
            ip("route", "del", cidr, "via", gateway, "dev", device)
            ip("neigh", "del", gateway, "dev", device)
            subprocess.run(["bridge", "fdb", "del", mac, "dev", device, "dst", public, "self"], capture_output=True)


def main(argv):
    flags = util.Flags({"ip-masq": False, "kube-subnet-mgr": False, "iface": "", "v": "0"}, short={"v": "v"})
    flags.parse(argv)
    node = (os.environ.get("NODE_NAME") or common.hostname()).lower()
    namespace = os.environ.get("POD_NAMESPACE") or "kube-flannel"
    local = common.default_ip()
    parent = flags["iface"] or ip("-4", "route", "show", "default").split(" dev ")[1].split()[0]
    api = kclient.client_from_kubeconfig(KUBECONFIG, timeout=10)
    while True:
        try:
            network, vni, port = net_conf(api, namespace)
            subnet = (api.get("/api/v1/nodes/" + node).get("spec") or {}).get("podCIDR")
            if subnet:
                break
            util.klog("I", "Waiting for the node's podCIDR (%s)" % node)
        except (kclient.ApiError, kclient.ConnectError, ValueError, KeyError) as e:
            util.klog("E", "Failed to read the network configuration: %s" % e)
        time.sleep(1)
    device = "flannel.%d" % vni
    mac, mtu = vxlan(device, vni, port, local, parent)
    ip("addr", "replace", "%s/32" % ipaddress.ip_network(subnet).network_address, "dev", device, check=True)
    api.patch("/api/v1/nodes/" + node, {"metadata": {"annotations": {
        ANNOTATION + "backend-data": json.dumps({"VNI": vni, "VtepMAC": mac}, separators=(",", ":")),
        ANNOTATION + "backend-type": "vxlan", ANNOTATION + "kube-subnet-manager": "true",
        ANNOTATION + "public-ip": local}}})
    first = str(ipaddress.ip_network(subnet).network_address + 1)
    util.write_file(SUBNET_ENV, "FLANNEL_NETWORK=%s\nFLANNEL_SUBNET=%s/%d\nFLANNEL_MTU=%d\nFLANNEL_IPMASQ=%s\n" % (
        network, first, ipaddress.ip_network(subnet).prefixlen, mtu, "true" if flags["ip-masq"] else "false"), 0o644)
    if flags["ip-masq"]:
        masquerade(network, subnet)
    util.klog("I", "Wrote subnet file to %s; VXLAN %s (VNI %d, port %d) on %s" % (SUBNET_ENV, device, vni, port,
                                                                                   local))
    changes = kclient.Changes(api, ["/api/v1/nodes"])
    had = {}
    while True:
        try:
            wanted = peers(api.get("/api/v1/nodes")["items"], node)
            program_peers(device, wanted, had)
            had = wanted
        except (kclient.ApiError, kclient.ConnectError) as e:
            util.klog("E", "Failed to list nodes: %s" % e)
        changes.wait(RESYNC)
