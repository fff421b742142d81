"""What kube-apiserver refuses of the kinds kub and its users apply, with its words.

Field errors are kube-apiserver's (k8s.io/apimachinery's field.Error): a field path, a type (Required value,
Invalid value) and, for an invalid value, the value as the server renders it: Go's %#v of its internal type
up to 1.33, JSON from 1.34 on (apimachinery's field.Error.ErrorBody). The Status of a refused object is
apierrors.NewInvalid's: 422 Invalid, `<Kind>.<group> "<name>" is invalid: <errors>`, a cause per error.
A Secret's data (and a ConfigMap's binaryData) that is not base64 fails the request's decoding, as Go's
encoding/json fails it, before anything else is checked.
"""
import json
import re

INVALID, REQUIRED = ("FieldValueInvalid", "Invalid value"), ("FieldValueRequired", "Required value")
# the workloads whose pod template must carry the labels their selector selects (apps/v1)
SELECTED = {"deployments", "replicasets", "daemonsets", "statefulsets"}
# selector Required and empty: the validation of these kinds (DaemonSet only checks that it matches)
SELECTOR_REQUIRED = {"deployments": "deployment", "replicasets": None, "statefulsets": "statefulset"}
# the selector may not change once set (the apps/v1 strategies' ValidateImmutableField)
IMMUTABLE_SELECTOR = {"deployments", "replicasets", "daemonsets"}
# where each kind keeps its pod spec
POD_SPECS = {"pods": ("spec",), "deployments": ("spec", "template", "spec"),
             "replicasets": ("spec", "template", "spec"), "daemonsets": ("spec", "template", "spec"),
             "statefulsets": ("spec", "template", "spec"), "jobs": ("spec", "template", "spec"),
             "cronjobs": ("spec", "jobTemplate", "spec", "template", "spec"),
             "replicationcontrollers": ("spec", "template", "spec")}
PORT_RANGE = "must be between 1 and 65535, inclusive"
IMMUTABLE = "field is immutable"
BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


class FieldError:
    def __init__(self, kind, path, detail="", value=None, shown=None):
        self.reason, self.word = kind
        self.path, self.detail, self.value, self.shown = path, detail, value, shown

    def body(self, json_values):
        """ErrorBody: the type, the value (not for Required) and the detail."""
        text = self.word
        if self.reason != REQUIRED[0]:
            text += ": " + render(self.value, self.shown, json_values)
        return text + (": " + self.detail if self.detail else "")


def render(value, shown, json_values):
    """A bad value as kube-apiserver prints it. shown: its Go type for %#v ("labels", "selector"), or None for a
    plain number or string."""
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and shown is None):
        return go_json(value)
    if shown == "selector":   # a *metav1.LabelSelector: nil, else its struct
        if value is None:
            return "null"
        return go_json(selector_json(value), sort=False) if json_values else go_selector(value)
    if json_values:
        return go_json(value)
    return go_map(value) if shown == "labels" else go_json(value)


def go_json(value, sort=True):
    """Go's json.Marshal: map keys sorted (sort=False: a struct's fields, in their order), no spaces, <, > and &
    escaped."""
    text = json.dumps(value, sort_keys=sort, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def selector_json(selector):
    """A LabelSelector's fields in the Go struct's order, empty ones left out (omitempty)."""
    out = {}
    if selector.get("matchLabels"):
        out["matchLabels"] = dict(sorted(selector["matchLabels"].items()))
    if selector.get("matchExpressions"):
        out["matchExpressions"] = [{k: r[k] for k in ("key", "operator", "values") if r.get(k)}
                                   for r in selector["matchExpressions"]]
    return out


def go_selector(selector):
    """%#v of a metav1.LabelSelector."""
    requirements = selector.get("matchExpressions")
    exprs = "[]v1.LabelSelectorRequirement(nil)" if requirements is None else \
        "[]v1.LabelSelectorRequirement{%s}" % ", ".join(
            "v1.LabelSelectorRequirement{Key:%s, Operator:%s, Values:%s}" % (
                json.dumps(r.get("key", "")), json.dumps(r.get("operator", "")), go_strings(r.get("values")))
            for r in requirements)
    return "v1.LabelSelector{MatchLabels:%s, MatchExpressions:%s}" % (go_map(selector.get("matchLabels")), exprs)


def go_map(labels):
    if labels is None:
        return "map[string]string(nil)"
    return "map[string]string{%s}" % ", ".join("%s:%s" % (json.dumps(k), json.dumps(v))
                                               for k, v in sorted(labels.items()))


def go_strings(values):
    return "[]string(nil)" if values is None else "[]string{%s}" % ", ".join(json.dumps(v) for v in values)


def invalid(kind, group, name, errors, minor):
    """(message, details) of the 422 Status that refuses an object (apierrors.NewInvalid)."""
    json_values = minor >= (1, 34)
    seen, unique = set(), []
    for e in errors:   # ToAggregate drops repeated messages
        text = "%s: %s" % (e.path, e.body(json_values))
        if text not in seen:
            seen.add(text)
            unique.append(text)
    listed = unique[0] if len(unique) == 1 else "[%s]" % ", ".join(unique)
    qualified = kind if not group else "%s.%s" % (kind, group)
    details = {"name": name, "kind": kind, "causes": [
        {"reason": e.reason, "message": e.body(json_values), "field": e.path} for e in errors]}
    if group:
        details["group"] = group
    return '%s "%s" is invalid: %s' % (qualified, name, listed), details


def check(resource, obj, old=None):
    """The field errors of an object (old: the stored one, for an update), in the real validation's order."""
    errors = []
    meta = obj.get("metadata") or {}
    if old is None and not meta.get("name"):
        errors.append(FieldError(REQUIRED, "metadata.name", "name or generateName is required"))
    spec = obj.get("spec") or {}
    if resource in SELECTED:
        errors += selector_errors(resource, spec)
    path = POD_SPECS.get(resource)
    if path:
        pod_spec = obj
        for step in path:
            pod_spec = (pod_spec or {}).get(step) if isinstance(pod_spec, dict) else None
        errors += pod_spec_errors(pod_spec or {}, ".".join(path))
    if resource == "services":
        errors += service_port_errors(spec)
    if old is not None and resource in IMMUTABLE_SELECTOR:
        before = (old.get("spec") or {}).get("selector")
        if spec.get("selector") != before:
            errors.append(FieldError(INVALID, "spec.selector", IMMUTABLE, spec.get("selector"), "selector"))
    return errors


def selector_errors(resource, spec):
    errors = []
    selector = spec.get("selector")
    if resource in SELECTOR_REQUIRED and selector is None:
        errors.append(FieldError(REQUIRED, "spec.selector"))
    elif selector is not None and not (selector.get("matchLabels") or selector.get("matchExpressions")):
        what = {"daemonsets": "daemonset"}.get(resource, SELECTOR_REQUIRED.get(resource)) or "deployment"
        errors.append(FieldError(INVALID, "spec.selector", "empty selector is invalid for " + what, selector,
                                 "selector"))
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
    if not selects(selector, labels):
        errors.append(FieldError(INVALID, "spec.template.metadata.labels",
                                 "`selector` does not match template `labels`", labels, "labels"))
    return errors


def selects(selector, labels):
    """metav1.LabelSelectorAsSelector(selector).Matches(labels): a missing selector selects nothing, an empty
    one everything."""
    if selector is None:
        return False
    labels = labels or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, values, op = e.get("key"), e.get("values") or [], e.get("operator")
        if ((op == "In" and labels.get(key) not in values) or (op == "NotIn" and labels.get(key) in values)
                or (op == "Exists" and key not in labels) or (op == "DoesNotExist" and key in labels)):
            return False
    return True


def pod_spec_errors(spec, path):
    errors = []
    containers = spec.get("containers") or []
    if not containers:
        errors.append(FieldError(REQUIRED, path + ".containers"))
    for field in ("containers", "initContainers"):
        for i, container in enumerate(spec.get(field) or []):
            at = "%s.%s[%d]" % (path, field, i)
            if not container.get("name"):
                errors.append(FieldError(REQUIRED, at + ".name"))
            if not container.get("image"):
                errors.append(FieldError(REQUIRED, at + ".image"))
            for j, port in enumerate(container.get("ports") or []):
                number = port.get("containerPort")
                if not number:
                    errors.append(FieldError(REQUIRED, "%s.ports[%d].containerPort" % (at, j)))
                elif not valid_port(number):
                    errors.append(FieldError(INVALID, "%s.ports[%d].containerPort" % (at, j), PORT_RANGE, number))
    return errors


def service_port_errors(spec):
    errors = []
    for i, port in enumerate(spec.get("ports") or []):
        number = port.get("port", 0)
        if not valid_port(number):
            errors.append(FieldError(INVALID, "spec.ports[%d].port" % i, PORT_RANGE, number))
        target = port.get("targetPort") or number   # defaulted to the port before validation
        if isinstance(target, int) and not valid_port(target):
            errors.append(FieldError(INVALID, "spec.ports[%d].targetPort" % i, PORT_RANGE, target))
    return errors


def valid_port(number):
    return isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535


def base64_error(resource, obj):
    """Decoding a Secret's data or a ConfigMap's binaryData ([]byte fields) from JSON: Go's base64 error of the
    first bad value, or None."""
    field = {"secrets": "data", "configmaps": "binaryData"}.get(resource)
    values = (obj or {}).get(field) if field and isinstance(obj, dict) else None
    for value in (values or {}).values() if isinstance(values, dict) else ():
        if isinstance(value, str):
            at = corrupt_at(value.encode())
            if at is not None:
                return "illegal base64 data at input byte %d" % at
    return None


def corrupt_at(data):
    """Where Go's base64.StdEncoding.Decode fails on data (its CorruptInputError), or None: quantum by quantum,
    newlines skipped, padding checked as Go checks it."""
    si, n = 0, len(data)
    while si < n:
        j = 0
        while j < 4:
            if si == n:
                if j == 0:
                    return None
                return si - j
            c = chr(data[si])
            si += 1
            if c in BASE64:
                j += 1
                continue
            if c in "\r\n":
                continue
            if c != "=" or j in (0, 1):
                return si - 1
            if j == 2:   # "==" expected, the first "=" is consumed
                while si < n and chr(data[si]) in "\r\n":
                    si += 1
                if si == n:
                    return n
                if chr(data[si]) != "=":
                    return si - 1
                si += 1
            while si < n and chr(data[si]) in "\r\n":
                si += 1
            return si if si < n else None
    return None


def decode_error(kind, version, message):
    """The 400 BadRequest message of a body the server cannot decode into its kind (transformDecodeError)."""
    return '%s in version "%s" cannot be handled as a %s: %s' % (kind, version, kind, message)


def minor_of(version):
    m = re.match(r"v?(\d+)\.(\d+)", version or "")
    return (int(m.group(1)), int(m.group(2))) if m else (1, 99)
