"""kub's load balancer of the API on the masters (cluster.api_load_balancer keepalived), as kubeadm's HA guide lays
it out: haproxy on every master forwards the endpoint's port to every master's API server (each checked with GET
/healthz); keepalived holds the virtual IP on one master and moves it to another within seconds when that master or
its haproxy stops, speaking VRRP by unicast to its peers (many networks filter multicast). Both run as kub's own
units with kub's own configuration, so a haproxy or keepalived of the host's is left alone. Rendered from data
here; scripts/api-balancer.sh writes them and (re)starts what changed.
"""
from ..hosts import scripts, state
from ..hosts.runner import apply
from ..hosts.state import API_PORT

HEADER = "# made by kub for the cluster's API; kub rewrites it, and removes it at uninstall"
CHECK_SCRIPT = f"{state.API_BALANCER_DIR}/api-check.sh"
HAPROXY_CONFIG = f"{state.API_BALANCER_DIR}/api-haproxy.cfg"
KEEPALIVED_CONFIG = f"{state.API_BALANCER_DIR}/api-keepalived.conf"


def variables(endpoint, masters, own_ip, facts, cluster_id):
    """The api-balancer.sh variables of one master: `masters`, their addresses in the cluster's order."""
    dev, interface = facts.interface_of(own_ip)
    rank = masters.index(own_ip)
    return {"haproxy_config": haproxy_config(endpoint, masters),
            "keepalived_config": keepalived_config(endpoint, own_ip, [ip for ip in masters if ip != own_ip],
                                                   dev, interface.network.prefixlen, 150 - 10 * rank, cluster_id),
            "check_script": check_script(endpoint),
            "haproxy_unit": HAPROXY_UNIT, "keepalived_unit": KEEPALIVED_UNIT}


def set_up(host, endpoint, masters, facts, cluster_id):
    """Writes kub's haproxy and keepalived on one master and (re)starts what changed."""
    apply(host, f"API load balancer at {endpoint.address}", scripts.API_BALANCER.call(
        **variables(endpoint, masters, host.ip, facts, cluster_id)), timeout=120)


def haproxy_config(endpoint, masters):
    servers = "\n".join(f"    server {ip} {_host_port(ip, API_PORT)}" for ip in masters)
    return f"""{HEADER}
global
    log stdout format raw local0 warning
    maxconn 4000

defaults
    mode tcp
    log global
    option dontlognull
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    retries 2
    option redispatch

frontend kub-api
    bind :::{endpoint.port} v4v6
    default_backend kub-api-servers

backend kub-api-servers
    balance roundrobin
    option httpchk GET /healthz
    http-check expect status 200
    default-server check check-ssl verify none inter 1s fall 2 rise 2
{servers}
"""


def keepalived_config(endpoint, own_ip, peers, dev, prefix, priority, cluster_id):
    peer_lines = "\n".join(f"        {ip}" for ip in peers)
    return f"""{HEADER}
global_defs {{
    router_id kub_{cluster_id[:8]}
    enable_script_security
    script_user root
}}

vrrp_script kub_api_check {{
    script "{CHECK_SCRIPT}"
    interval 1
    fall 2
    rise 2
}}

vrrp_instance kub_api {{
    state BACKUP
    interface {dev}
    virtual_router_id {router_id(cluster_id)}
    priority {priority}
    nopreempt
    advert_int 1
    unicast_src_ip {own_ip}
    unicast_peer {{
{peer_lines}
    }}
    virtual_ipaddress {{
        {endpoint.virtual_ip}/{prefix} dev {dev}
    }}
    track_script {{
        kub_api_check
    }}
}}
"""


def check_script(endpoint):
    return f"""#!/bin/sh
{HEADER}
# keepalived's check: this master's haproxy takes connections on the endpoint's port
exec timeout 2 bash -c '</dev/tcp/127.0.0.1/{endpoint.port}'
"""


def router_id(cluster_id):
    """VRRP's virtual router id (1-255), the cluster's own (its peers are named, so another cluster's id on the same
    network does no harm)."""
    return int(cluster_id.replace("-", "")[:8], 16) % 255 + 1


def _host_port(ip, port):
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


HAPROXY_UNIT = f"""{HEADER}
[Unit]
Description=kub: haproxy in front of the cluster's API servers
After=network-online.target
Wants=network-online.target

[Service]
Type=notify
ExecStartPre=/usr/sbin/haproxy -q -c -f {HAPROXY_CONFIG}
ExecStart=/usr/sbin/haproxy -Ws -f {HAPROXY_CONFIG} -p /run/kub-api-haproxy.pid
ExecReload=/usr/sbin/haproxy -q -c -f {HAPROXY_CONFIG}
ExecReload=/bin/kill -USR2 $MAINPID
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""

KEEPALIVED_UNIT = f"""{HEADER}
[Unit]
Description=kub: keepalived holding the cluster's API address
After=network-online.target kub-api-haproxy.service
Wants=network-online.target

[Service]
ExecStart=/usr/sbin/keepalived --dont-fork --vrrp --log-console --use-file {KEEPALIVED_CONFIG} \\
 --pid /run/kub-api-keepalived.pid --vrrp_pid /run/kub-api-keepalived-vrrp.pid
ExecReload=/bin/kill -HUP $MAINPID
Restart=always
RestartSec=2

[Install]
WantedBy=multi-user.target
"""
