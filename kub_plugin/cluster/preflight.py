"""A host's facts, read and checked: the first thing every run (and every plan) does on a host."""
from ..hosts import facts as host_facts
from ..hosts import scripts
from . import checks, nodes


def checked(host, role, cluster_id, settings):
    """(facts, OS profile) of a host that passed every check (checks.HostRefused otherwise)."""
    facts = host_facts.gather(host)
    return facts, checks.host(host.ip, facts, role, cluster_id, settings)


def registered(master_facts, master):
    """{node name: address} of the nodes in this master's cluster, when kub initialised it already."""
    if not master_facts.initialised:
        return {}
    return {name: address for name, (_, address) in nodes.nodes(master).items()}


def endpoint_ready(host, endpoint, masters_facts):
    """Before a cluster is made at an endpoint (no master initialised yet), checked from its first master: kub's
    virtual IP is free (unless kub's keepalived holds it already), the user's load balancer answers."""
    if endpoint is None or any(f.initialised for f in masters_facts):
        return
    if endpoint.virtual_ip and any(f.api_balancer for f in masters_facts):
        return
    call = scripts.ENDPOINT_CHECK.call(endpoint_host=endpoint.host, endpoint_port=endpoint.port)
    found = host.run_script(call.name, env=call.env, timeout=30).stdout.strip() or "no answer"
    # (a timeout is no answer: the address of a virtual IP that moved may linger in this host's ARP cache a while)
    if endpoint.virtual_ip and found in ("answers", "refused"):
        raise checks.HostRefused(f"{host.ip}: the virtual IP {endpoint.virtual_ip} is in use already (a connection to "
                                 f"{endpoint.address} {found}): give an unused address of the masters' subnet as "
                                 f"cluster.control_plane_endpoint")
    if not endpoint.virtual_ip and found not in ("answers", "refused"):
        raise checks.HostRefused(f"{host.ip}: the endpoint {endpoint.address} does not answer from this master "
                                 f"({found}): set your load balancer up to forward it to every master's port 6443 "
                                 f"(and its name in DNS) before install, or use cluster.api_load_balancer keepalived")
