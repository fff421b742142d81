"""kube-proxy in iptables mode, as the kube-proxy DaemonSet's pod runs it: every Service's ClusterIP and NodePort
ports DNATed to the ready addresses of its Endpoints, the rules laid out as kube-proxy lays them out (KUBE-SERVICES,
KUBE-NODEPORTS, KUBE-SVC-*, KUBE-EXT-*, KUBE-SEP-*, KUBE-MARK-MASQ, KUBE-POSTROUTING, KUBE-FORWARD) and written with
iptables-restore. As kube-proxy does for node ports on 127.0.0.1 too, it sets net.ipv4.conf.all.route_localnet and
drops martian traffic to 127.0.0.0/8 from elsewhere (KUBE-FIREWALL).

The real kube-proxy follows EndpointSlices; this one reads Endpoints (kube/endpoints.py keeps them), with the node's
credentials (the kubelet's kubeconfig) where the real one has its ServiceAccount's.
"""
import base64
import hashlib
import subprocess

from kube import client as kclient
from kube import common, util

KUBECONFIG = common.KUBELET_CONF
MASQ_MARK = "0x4000/0x4000"
RESYNC = 30.0
JUMPS = (("nat", "PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
         ("nat", "OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
         ("nat", "POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules"),
         ("filter", "FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
         ("filter", "INPUT", "KUBE-FIREWALL", ""), ("filter", "OUTPUT", "KUBE-FIREWALL", ""))


def chain(prefix, *parts):
    """kube-proxy's chain name: a prefix and the base32 of a sha256 of what it stands for, 16 characters."""
    digest = hashlib.sha256("".join(parts).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:16]


def endpoints_of(ep, port_name):
    """The ready (address, port) pairs of an Endpoints object for one of its Service's port names."""
    out = []
    for subset in ep.get("subsets") or []:
        port = next((p["port"] for p in subset.get("ports") or [] if (p.get("name") or "") == port_name), None)
        if port is None:
            continue
        out += [(a["ip"], port) for a in subset.get("addresses") or []]
    return sorted(out)


def rules(services, endpoints, cluster_cidr):
    """(nat lines, filter lines) of every Service's rules, the chains declared first."""
    nat_chains = ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ"]
    nat = ["-A KUBE-POSTROUTING -m mark ! --mark %s -j RETURN" % MASQ_MARK,
           "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
           '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE '
           "--random-fully",
           "-A KUBE-MARK-MASQ -j MARK --set-xmark %s" % MASQ_MARK]
    by_name = {(e["metadata"]["namespace"], e["metadata"]["name"]): e for e in endpoints}
    for svc in sorted(services, key=lambda s: (s["metadata"]["namespace"], s["metadata"]["name"])):
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None":
            continue
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        for port in spec.get("ports") or []:
            proto = (port.get("protocol") or "TCP").lower()
            port_name = port.get("name") or ""
            label = "%s/%s%s" % (ns, name, ":" + port_name if port_name else "")
            svc_chain = chain("KUBE-SVC-", label, proto)
            backends = endpoints_of(by_name.get((ns, name)) or {}, port_name)
            if not backends:
                continue
            nat_chains.append(svc_chain)
            nat.append('-A KUBE-SERVICES -d %s/32 -p %s -m comment --comment "%s cluster IP" -m %s --dport %d -j %s'
                       % (ip, proto, label, proto, port["port"], svc_chain))
            if cluster_cidr:
                nat.append('-A %s ! -s %s -d %s/32 -p %s -m comment --comment "%s cluster IP" -m %s --dport %d -j '
                           'KUBE-MARK-MASQ' % (svc_chain, cluster_cidr, ip, proto, label, proto, port["port"]))
            if port.get("nodePort") and spec.get("type") in ("NodePort", "LoadBalancer"):
                ext = chain("KUBE-EXT-", label, proto)
                nat_chains.append(ext)
                nat.append('-A KUBE-NODEPORTS -p %s -m comment --comment "%s" -m %s --dport %d -j %s'
                           % (proto, label, proto, port["nodePort"], ext))
                nat.append('-A %s -m comment --comment "masquerade traffic for %s external destinations" -j '
                           'KUBE-MARK-MASQ' % (ext, label))
                nat.append("-A %s -j %s" % (ext, svc_chain))
            for n, (address, target) in enumerate(backends):
                sep = chain("KUBE-SEP-", label, proto, "%s:%d" % (address, target))
                nat_chains.append(sep)
                left = len(backends) - n
                chance = "" if left == 1 else " -m statistic --mode random --probability %.10f" % (1.0 / left)
                nat.append('-A %s -m comment --comment "%s -> %s:%d"%s -j %s' % (svc_chain, label, address, target,
                                                                             chance, sep))
                nat.append('-A %s -s %s/32 -m comment --comment %s -j KUBE-MARK-MASQ' % (sep, address, label))
                nat.append('-A %s -p %s -m comment --comment %s -m %s -j DNAT --to-destination %s:%d'
                           % (sep, proto, label, proto, address, target))
    nat.append('-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last '
               'rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS')
    filter_ = ["-A KUBE-FORWARD -m mark --mark %s -j ACCEPT" % MASQ_MARK,
               "-A KUBE-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
               '-A KUBE-FIREWALL ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet '
               'connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP']
    return (["*nat"] + [":%s - [0:0]" % c for c in nat_chains] + nat + ["COMMIT"],
            ["*filter", ":KUBE-FORWARD - [0:0]", ":KUBE-FIREWALL - [0:0]"] + filter_ + ["COMMIT"])


def stale_chains(nat_lines):
    """The KUBE-SVC/EXT/SEP chains iptables has that these rules no longer declare."""
    declared = {line[1:].split()[0] for line in nat_lines if line.startswith(":")}
    have = subprocess.run(["iptables-save", "-t", "nat"], capture_output=True, text=True).stdout
    found = {line[1:].split()[0] for line in have.splitlines() if line.startswith(":KUBE-")}
    return sorted(c for c in found - declared if c.startswith(("KUBE-SVC-", "KUBE-EXT-", "KUBE-SEP-")))


def apply(nat, filter_):
    # a stale chain is declared (which empties it) and then deleted, as kube-proxy does
    stale = stale_chains(nat)
    restore = nat[:1] + [":%s - [0:0]" % c for c in stale] + nat[1:-1] + ["-X %s" % c for c in stale] + \
        ["COMMIT"] + filter_
    p = subprocess.run(["iptables-restore", "--noflush", "-w"], input="\n".join(restore) + "\n", text=True,
                       capture_output=True)
    if p.returncode:
        util.klog("E", "Failed to execute iptables-restore: %s" % p.stderr.strip())
        return
    for table, parent, target, comment in JUMPS:
        rule = (["-m", "comment", "--comment", comment] if comment else []) + ["-j", target]
        if subprocess.run(["iptables", "-w", "-t", table, "-C", parent] + rule, capture_output=True).returncode:
            subprocess.run(["iptables", "-w", "-t", table, "-I", parent, "1"] + rule, capture_output=True)


def cluster_cidr(api):
    try:
        cm = api.get("/api/v1/namespaces/kube-system/configmaps/kube-proxy")
        return (util.yaml_load_all((cm.get("data") or {}).get("config.conf") or "")[0] or {}).get("clusterCIDR") or ""
    except (kclient.ApiError, IndexError, ValueError):
        return ""


def main(argv):
    flags = util.Flags({"config": "", "hostname-override": "", "v": "0"}, short={"v": "v"})
    flags.parse(argv)
    api = kclient.client_from_kubeconfig(KUBECONFIG, timeout=10)
    with open("/proc/sys/net/ipv4/conf/all/route_localnet", "w") as f:   # node ports on 127.0.0.1
        f.write("1\n")
    util.klog("I", 'Using iptables Proxier; "Setting route_localnet=1 to allow node-ports on localhost"')
    cidr = cluster_cidr(api)
    changes = kclient.Changes(api, ["/api/v1/services", "/api/v1/endpoints"])
    while True:   # on every change, and every RESYNC seconds (its syncPeriod) all the same
        try:
            apply(*rules(api.get("/api/v1/services")["items"], api.get("/api/v1/endpoints")["items"], cidr))
        except (kclient.ApiError, kclient.ConnectError) as e:
            util.klog("E", "Failed to sync the Services' rules: %s" % e)
        changes.wait(RESYNC)
