"""A host's facts, read and checked: the first thing every run (and every plan) does on a host."""
from ..hosts import facts as host_facts
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
