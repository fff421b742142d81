"""The stand-in API server refuses what kube-apiserver refuses, as it refuses it: the real kubectl of the minor,
on the control plane, prints for each refusal what it prints against a real server, and the Status the server
answers (read with curl) has the real code, reason, message and causes. Nothing refused is stored, and a
server dry run is refused alike.

1.31 and 1.37 are used: up to 1.33 the server prints a bad value with Go's %#v, from 1.34 on as JSON. Host 1
is the control plane; it is wiped at the end.
"""
import json
import shlex

import pytest
from kubeadm_cluster import ADMIN, kubeadm_cluster

pytestmark = pytest.mark.lab

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  %s
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [%s]
"""
CONTAINER = '{name: web, image: "nginx:1.27"}'
SELECTOR = "selector: {matchLabels: {app: web}}"
# the admin kubeconfig's client certificate for curl
CURL = """\
cd /root && for part in certificate key; do
  sed -n "s/^ *client-$part-data: //p" /etc/kubernetes/admin.conf | base64 -d > admin.$part
done
curl -s -o body -w '%{{http_code}}' --cacert /etc/kubernetes/pki/ca.crt --cert admin.certificate --key admin.key \
  -X {method} -H 'Content-Type: {ctype}' --data-binary @- 'https://{ip}:6443{path}' && echo && cat body"""


@pytest.fixture(scope="module", params=["1.31", "1.37"])
def cluster(request, lab):
    with kubeadm_cluster(lab, (1,), request.param):
        yield lab, request.param


def kubectl(lab, args, stdin=None, ok=True):
    p = lab.exec(1, ["bash", "-c", "export " + ADMIN + "; kubectl " + args], input=stdin, check=False, timeout=60)
    assert (p.returncode == 0) == ok, "kubectl %s\nstdout: %s\nstderr: %s" % (args, p.stdout, p.stderr)
    return p


def refused(lab, args, stdin=None):
    """What kubectl prints when the server refuses: its lines, trailing blanks dropped."""
    return [line.rstrip() for line in kubectl(lab, args, stdin, ok=False).stderr.splitlines()]


def request(lab, method, path, body, ctype="application/json"):
    """(HTTP code, Status) of a request as the admin."""
    p = lab.exec(1, ["bash", "-c", CURL.format(method=method, ctype=ctype, ip=lab.host_ip(1), path=path)],
                 input=body, timeout=60)
    code, _, answer = p.stdout.partition("\n")
    return int(code), json.loads(answer)


def stored(lab, what):
    return kubectl(lab, "get %s -o name --ignore-not-found" % what).stdout.strip()


def json_values(minor):
    """Does the server print a bad value as JSON (1.34 on), or with Go's %#v?"""
    return tuple(int(part) for part in minor.split(".")) >= (1, 34)


def labels_shown(minor, labels):
    """A map as the server renders a bad value."""
    if json_values(minor):
        return json.dumps(labels, separators=(",", ":"))
    return "map[string]string{%s}" % ", ".join('"%s":"%s"' % kv for kv in sorted(labels.items()))


def test_a_deployment_whose_selector_is_missing_or_misses_its_template(cluster):
    lab, minor = cluster
    mismatch = ('spec.template.metadata.labels: Invalid value: %s: `selector` does not match template `labels`'
                % labels_shown(minor, {"app": "web"}))
    missing = DEPLOYMENT % ("", CONTAINER)
    for dry in ("", " --dry-run=server"):
        assert refused(lab, "apply -f -" + dry, missing) == [
            'The Deployment "web" is invalid:', "* spec.selector: Required value", "* " + mismatch]
    other = DEPLOYMENT % ("selector: {matchLabels: {app: other}}", CONTAINER)
    assert refused(lab, "create -f -", other) == ['The Deployment "web" is invalid: ' + mismatch]
    code, status = request(lab, "POST", "/apis/apps/v1/namespaces/default/deployments", json_of(lab, missing))
    assert (code, status["kind"], status["reason"], status["code"]) == (422, "Status", "Invalid", 422)
    assert status["message"] == 'Deployment.apps "web" is invalid: [spec.selector: Required value, %s]' % mismatch
    assert status["details"] == {"name": "web", "group": "apps", "kind": "Deployment", "causes": [
        {"reason": "FieldValueRequired", "message": "Required value", "field": "spec.selector"},
        {"reason": "FieldValueInvalid", "message": mismatch.split(": ", 1)[1],
         "field": "spec.template.metadata.labels"}]}
    assert stored(lab, "deployment web") == ""


def json_of(lab, manifest):
    """A manifest as kubectl sends it: JSON."""
    return kubectl(lab, "create --dry-run=client -o json -f -", manifest).stdout


def test_ports_out_of_range(cluster):
    lab, _ = cluster
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec:\n  ports: [{port: 99999}]\n"
    rule = "Invalid value: 99999: must be between 1 and 65535, inclusive"
    assert refused(lab, "apply -f -", service) == [
        'The Service "web" is invalid:', "* spec.ports[0].port: " + rule, "* spec.ports[0].targetPort: " + rule]
    deployment = DEPLOYMENT % (SELECTOR, CONTAINER.replace("}", ", ports: [{containerPort: 99999}]}"))
    assert refused(lab, "apply --dry-run=server -f -", deployment) == [
        'The Deployment "web" is invalid: spec.template.spec.containers[0].ports[0].containerPort: ' + rule]
    code, status = request(lab, "POST", "/api/v1/namespaces/default/services", json_of(lab, service))
    assert (code, status["reason"]) == (422, "Invalid")
    assert [(c["field"], c["message"]) for c in status["details"]["causes"]] == [
        ("spec.ports[0].port", rule), ("spec.ports[0].targetPort", rule)]
    assert stored(lab, "service web") == "" and stored(lab, "deployment web") == ""


def test_a_deployments_selector_cannot_change(cluster):
    lab, minor = cluster
    kubectl(lab, "apply -f -", DEPLOYMENT % (SELECTOR, CONTAINER))
    wider = (DEPLOYMENT % ("selector: {matchLabels: {app: web, tier: front}}", CONTAINER)).replace(
        "labels: {app: web}", "labels: {app: web, tier: front}")
    shown = ('{"matchLabels":{"app":"web","tier":"front"}}' if json_values(minor) else
             'v1.LabelSelector{MatchLabels:map[string]string{"app":"web", "tier":"front"}, '
             'MatchExpressions:[]v1.LabelSelectorRequirement(nil)}')
    immutable = ['The Deployment "web" is invalid: spec.selector: Invalid value: %s: field is immutable' % shown]
    # client-side apply (a patch), replace (an update), server-side apply (forced: else the fields' owner,
    # kubectl-client-side-apply, makes it a conflict first), each also as a dry run
    for how in ("apply -f -", "replace -f -", "apply --server-side --force-conflicts -f -"):
        for dry in ("", " --dry-run=server"):
            assert refused(lab, how + dry, wider) == immutable, how + dry
    # a JSON patch: the spec's errors first, the immutable selector after them
    narrower = shlex.quote('[{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "x"}]')
    shown = ('{"matchLabels":{"app":"x"}}' if json_values(minor) else
             'v1.LabelSelector{MatchLabels:map[string]string{"app":"x"}, '
             'MatchExpressions:[]v1.LabelSelectorRequirement(nil)}')
    assert refused(lab, "patch deployment web --type=json -p " + narrower) == [
        'The Deployment "web" is invalid:',
        "* spec.template.metadata.labels: Invalid value: %s: `selector` does not match template `labels`"
        % labels_shown(minor, {"app": "web"}),
        "* spec.selector: Invalid value: %s: field is immutable" % shown]
    selector = kubectl(lab, "get deployment web -o jsonpath={.spec.selector}").stdout
    assert json.loads(selector) == {"matchLabels": {"app": "web"}}
    kubectl(lab, "delete deployment web")


def test_a_secret_that_is_not_base64_is_refused_while_decoding(cluster):
    lab, _ = cluster
    secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\ndata: {user: YWRtaW4=, password: admin}\n"
    message = 'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4'
    assert refused(lab, "apply -f -", secret) == [
        'Error from server (BadRequest): error when creating "STDIN": ' + message]
    assert refused(lab, "create --dry-run=server -f -", secret) == [
        'Error from server (BadRequest): error when creating "STDIN": ' + message]
    code, status = request(lab, "POST", "/api/v1/namespaces/default/secrets", json_of(lab, secret))
    assert (code, status["reason"], status["message"]) == (400, "BadRequest", message)
    assert stored(lab, "secret db") == ""


def test_required_fields_and_a_missing_namespace(cluster):
    lab, _ = cluster
    nameless = "apiVersion: v1\nkind: ConfigMap\nmetadata: {labels: {a: b}}\ndata: {a: b}\n"
    assert refused(lab, "create -f -", nameless) == [
        'The ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required']
    bare = DEPLOYMENT % (SELECTOR, "{ports: [{containerPort: 80}]}")
    assert refused(lab, "apply -f -", bare) == [
        'The Deployment "web" is invalid:', "* spec.template.spec.containers[0].name: Required value",
        "* spec.template.spec.containers[0].image: Required value"]
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: lone}\nspec: {containers: [{name: lone}]}\n"
    assert refused(lab, "apply --server-side -f -", pod) == [
        'The Pod "lone" is invalid: spec.containers[0].image: Required value']
    elsewhere = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c, namespace: nowhere}\ndata: {a: b}\n"
    assert refused(lab, "apply -f -", elsewhere) == [
        'Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not found']
    code, status = request(lab, "POST", "/api/v1/namespaces/nowhere/configmaps", json_of(lab, elsewhere))
    assert (code, status["reason"], status["message"]) == (404, "NotFound", 'namespaces "nowhere" not found')
    assert status["details"] == {"name": "nowhere", "kind": "namespaces"}
    assert stored(lab, "deployment web") == "" and stored(lab, "pod lone") == ""


def test_server_side_apply_conflicts_with_another_managers_fields(cluster):
    lab, _ = cluster
    config = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {colour: blue, size: big}\n"
    kubectl(lab, "apply -f -", config)   # client-side: kubectl-client-side-apply owns the data
    red = config.replace("blue", "red")
    lines = refused(lab, "apply --server-side -f -", red)
    assert lines[0] == ('error: Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: '
                        '.data.colour')
    assert refused(lab, "apply --server-side --dry-run=server -f -", red)[0] == lines[0]
    two = red.replace("big", "small")
    assert refused(lab, "apply --server-side -f -", two)[:3] == [
        'error: Apply failed with 2 conflicts: conflicts with "kubectl-client-side-apply" using v1:',
        "- .data.colour", "- .data.size"]
    code, status = request(lab, "PATCH", "/api/v1/namespaces/default/configmaps/settings?fieldManager=gitops",
                           red, "application/apply-patch+yaml")
    assert (code, status["reason"]) == (409, "Conflict")
    assert status["message"] == ('Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using v1: '
                                 '.data.colour')
    assert status["details"] == {"causes": [{"reason": "FieldManagerConflict", "field": ".data.colour",
                                             "message": 'conflict with "kubectl-client-side-apply" using v1'}]}
    data = lambda: json.loads(kubectl(lab, "get configmap settings -o jsonpath={.data}").stdout)  # noqa: E731
    assert data() == {"colour": "blue", "size": "big"}
    # the same values: no conflict (the fields are shared); forced: the field changes hands
    assert kubectl(lab, "apply --server-side -f -", config).stdout.strip() == "configmap/settings serverside-applied"
    kubectl(lab, "apply --server-side --force-conflicts -f -", red)
    assert data() == {"colour": "red", "size": "big"}
    managed = json.loads(kubectl(lab, "get configmap settings -o json --show-managed-fields").stdout)
    owners = {m["manager"]: m["fieldsV1"] for m in managed["metadata"]["managedFields"]}
    assert "f:colour" in owners["kubectl"]["f:data"]
    assert "f:colour" not in owners["kubectl-client-side-apply"].get("f:data", {})
    kubectl(lab, "delete configmap settings")


def test_a_conflict_inside_a_list_names_the_item(cluster):
    lab, _ = cluster
    deployment = DEPLOYMENT % (SELECTOR, CONTAINER)
    kubectl(lab, "apply --server-side -f -", deployment)
    kubectl(lab, "set image deployment/web web=nginx:1.28")   # manager kubectl-set, an update of apps/v1
    lines = refused(lab, "apply --server-side -f -", deployment)
    assert lines[0] == ('error: Apply failed with 1 conflict: conflict with "kubectl-set" using apps/v1: '
                        '.spec.template.spec.containers[name="web"].image')
    kubectl(lab, "apply --server-side --force-conflicts -f -", deployment)
    image = kubectl(lab, "get deployment web -o jsonpath={.spec.template.spec.containers[0].image}").stdout
    assert image == "nginx:1.27"
    kubectl(lab, "delete deployment web " + shlex.quote("--wait=false"))
