"""How scripts/lib.sh reads kubectl's output: each object it changed is a change, each it refused an error line
with the API server's reason (kubectl's own formats, as real kubectl prints them)."""
import subprocess
from pathlib import Path

import pytest

LIB = Path(__file__).resolve().parents[2] / "scripts" / "lib.sh"
APPLIED = """configmap/valid created
deployment.apps/web configured
service/web unchanged
Warning: spec.template: deprecated field
Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not found
"""
CREATED = """The Deployment "web" is invalid:
* spec.selector: Required value
* spec.template.metadata.labels: Invalid value: {"app":"web"}: `selector` does not match template `labels`
"""


def lib(call, output):
    return subprocess.run(["bash", "-c", f". {LIB}; {call} \"$OUT\""], env={"OUT": output, "PATH": "/usr/bin:/bin"},
                          check=True, capture_output=True, text=True).stdout


def test_changes_are_the_objects_kubectl_changed_and_unchanged_ones_notes_when_asked():
    assert lib("kubectl_changes", APPLIED) == ("changed: configmap/valid created\nchanged: deployment.apps/web "
                                               "configured\nnote: kubectl: Warning: spec.template: deprecated field\n")
    assert "note: service/web unchanged\n" in lib("kubectl_changes_unchanged() { kubectl_changes \"$1\" unchanged; }; "
                                                  "kubectl_changes_unchanged", APPLIED)


@pytest.mark.parametrize("output,expected", [
    (APPLIED, 'Error from server (NotFound): error when creating "STDIN": namespaces "nowhere" not found'),
    (CREATED, 'The Deployment "web" is invalid: spec.selector: Required value; spec.template.metadata.labels: '
              'Invalid value: {"app":"web"}: `selector` does not match template `labels`'),
    (CREATED + 'Error from server (AlreadyExists): services "web" already exists\n',
     'The Deployment "web" is invalid: spec.selector: Required value; spec.template.metadata.labels: Invalid '
     'value: {"app":"web"}: `selector` does not match template `labels`; Error from server (AlreadyExists): '
     'services "web" already exists'),
    ('The Service "s" is invalid: spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive',
     'The Service "s" is invalid: spec.ports[0].port: Invalid value: 99999: must be between 1 and 65535, inclusive'),
    ("Warning: x\nsomething else went wrong\n", "something else went wrong"),
])
def test_an_error_is_one_line_per_refused_object(output, expected):
    assert lib("kubectl_error", output) == expected + "\n"
    assert not [line for line in lib("kubectl_changes", output).splitlines() if line.startswith("changed: ")
                and ("invalid" in line or line.startswith("changed: * "))]
