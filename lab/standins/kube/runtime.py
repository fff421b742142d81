"""The CRI calls that run pods (runtime.v1 RuntimeService and ImageService), as the kubelet makes them: messages
encoded and decoded by the field numbers of k8s.io/cri-api's api.proto.

A message to send is a list of (field number, value): a str or bytes (a nested message is its bytes), an int or
bool, a list (a repeated field), or a dict (a map<string, string>). Zero values are left out, as proto3 does.
"""
from kube import cri

RUNTIME, IMAGES = cri.RUNTIME, cri.IMAGES
# enums of api.proto
SANDBOX_READY, SANDBOX_NOTREADY = 0, 1
CREATED, RUNNING, EXITED, UNKNOWN = 0, 1, 2, 3
CONTAINER_STATES = {CREATED: "CONTAINER_CREATED", RUNNING: "CONTAINER_RUNNING", EXITED: "CONTAINER_EXITED",
                    UNKNOWN: "CONTAINER_UNKNOWN"}
PROTOCOLS = {"TCP": 0, "UDP": 1, "SCTP": 2}
NS_POD, NS_CONTAINER, NS_NODE = 0, 1, 2
# seconds a call may take besides a container's stop timeout (the first sandbox also pulls the pause image)
CALL_TIMEOUT = 60


def message(fields):
    out = b""
    for num, value in fields:
        if value is None or value == "" or value == b"" or value is False or value == 0 and not isinstance(value, bool):
            continue
        if isinstance(value, list):
            out += message([(num, v) for v in value])
        elif isinstance(value, dict):
            out += message([(num, message([(1, k), (2, v)])) for k, v in sorted(value.items())])
        elif isinstance(value, int) and value < 0:
            out += cri.pb_varint(num << 3) + cri.pb_varint(value + (1 << 64))   # int64's two's complement
        else:
            out += cri.pb_field(num, value)
    return out


def decoded(data):
    return cri.pb_decode(data or b"")


def text(msg, num):
    return cri.pb_str(msg, num)


def number(msg, num):
    value = (msg.get(num) or [0])[0]
    return value - (1 << 64) if value >= 1 << 63 else value


def string_map(msg, num):
    entries = (decoded(raw) for raw in msg.get(num, []))
    return {text(e, 1): text(e, 2) for e in entries}


def call(endpoint, method, fields, timeout=CALL_TIMEOUT):
    return decoded(cri.call(endpoint, method, message(fields), timeout))


# ---- sandboxes ----------------------------------------------------------------------------------------------

def run_sandbox(endpoint, config):
    """RunPodSandbox: the new sandbox's id. `config` is an encoded PodSandboxConfig."""
    return text(call(endpoint, RUNTIME + "RunPodSandbox", [(1, config)]), 1)


def stop_sandbox(endpoint, sandbox_id):
    call(endpoint, RUNTIME + "StopPodSandbox", [(1, sandbox_id)])


def remove_sandbox(endpoint, sandbox_id):
    call(endpoint, RUNTIME + "RemovePodSandbox", [(1, sandbox_id)])


def sandbox_ip(endpoint, sandbox_id):
    """The pod's IP address as the sandbox's network status says ('' without a network of its own)."""
    status = decoded((call(endpoint, RUNTIME + "PodSandboxStatus", [(1, sandbox_id)]).get(1) or [b""])[0])
    network = decoded((status.get(5) or [b""])[0])
    return text(network, 1)


def sandboxes(endpoint, labels=None):
    """ListPodSandbox (those with `labels`): [{id, name, uid, namespace, attempt, state, created, labels}]."""
    found = call(endpoint, RUNTIME + "ListPodSandbox", [(1, message([(3, labels or {})]))])
    out = []
    for raw in found.get(1, []):
        s = decoded(raw)
        meta = decoded((s.get(2) or [b""])[0])
        out.append({"id": text(s, 1), "name": text(meta, 1), "uid": text(meta, 2), "namespace": text(meta, 3),
                    "attempt": number(meta, 4), "ready": number(s, 3) == SANDBOX_READY, "created": number(s, 4),
                    "labels": string_map(s, 5)})
    return out


# ---- containers ---------------------------------------------------------------------------------------------

def create_container(endpoint, sandbox_id, config, sandbox_config):
    """CreateContainer: the new container's id (encoded ContainerConfig and PodSandboxConfig)."""
    return text(call(endpoint, RUNTIME + "CreateContainer", [(1, sandbox_id), (2, config), (3, sandbox_config)]), 1)


def start_container(endpoint, container_id):
    call(endpoint, RUNTIME + "StartContainer", [(1, container_id)])


def stop_container(endpoint, container_id, timeout):
    """StopContainer: SIGTERM (the image's stop signal), SIGKILL after `timeout` seconds."""
    call(endpoint, RUNTIME + "StopContainer", [(1, container_id), (2, int(timeout))], timeout=timeout + CALL_TIMEOUT)


def remove_container(endpoint, container_id):
    call(endpoint, RUNTIME + "RemoveContainer", [(1, container_id)])


def containers(endpoint, sandbox_id=""):
    """ListContainers (of one sandbox): [{id, sandbox, name, attempt, state, created, labels}]."""
    found = call(endpoint, RUNTIME + "ListContainers", [(1, message([(3, sandbox_id)]))])
    out = []
    for raw in found.get(1, []):
        c = decoded(raw)
        meta = decoded((c.get(3) or [b""])[0])
        out.append({"id": text(c, 1), "sandbox": text(c, 2), "name": text(meta, 1), "attempt": number(meta, 2),
                    "state": number(c, 6), "created": number(c, 7), "labels": string_map(c, 8)})
    return out


def container_status(endpoint, container_id):
    """ContainerStatus: {id, name, attempt, state, created, started, finished (ns), exit_code, reason, message,
    image, image_ref}."""
    s = decoded((call(endpoint, RUNTIME + "ContainerStatus", [(1, container_id)]).get(1) or [b""])[0])
    meta = decoded((s.get(2) or [b""])[0])
    image = decoded((s.get(8) or [b""])[0])
    return {"id": text(s, 1), "name": text(meta, 1), "attempt": number(meta, 2), "state": number(s, 3),
            "created": number(s, 4), "started": number(s, 5), "finished": number(s, 6), "exit_code": number(s, 7),
            "image": text(image, 1), "image_ref": text(s, 9), "reason": text(s, 10), "message": text(s, 11)}


# ---- images -------------------------------------------------------------------------------------------------

def image_ref(endpoint, image):
    """ImageStatus: the image's id when the runtime has it, else ''."""
    found = call(endpoint, IMAGES + "ImageStatus", [(1, message([(1, image)]))])
    return text(decoded((found.get(1) or [b""])[0]), 1)


def pull_image(endpoint, image, sandbox_config=b""):
    """PullImage: the pulled image's reference; cri.RPCError with the runtime's reason when it cannot."""
    found = call(endpoint, IMAGES + "PullImage", [(1, message([(1, image)])), (3, sandbox_config)], timeout=300)
    return text(found, 1)
