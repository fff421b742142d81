"""`cfy init` again after a failed one, as the README says to: cfy 7.0.5 keeps the half-made blueprint of a
failed init and refuses the next one with the same -b; removing that folder is the way out."""
import shutil

from kub_lab.cfy import LocalCfy


def said(result):
    return (result.stdout or "") + (result.stderr or "")


def test_a_failed_init_is_done_again_after_removing_its_half_made_blueprint(tmp_path):
    cfy = LocalCfy(tmp_path / "w", blueprint_id="kub")
    cfy.stage()
    inputs = {"master_ip": "10.0.0.11", "minion_ips": []}
    typo = cfy.init({**inputs, "kubernetes_version": "1.99"}, check=False)
    assert typo.returncode != 0 and "violates constraint" in said(typo)
    again = cfy.init(inputs, check=False)
    assert again.returncode != 0
    assert "No such file or directory" in said(again)   # cfy's own error, as the README quotes it
    # the README's way out, in cfy's profile folder (~/.cloudify, here CFY_WORKDIR)
    shutil.rmtree(cfy.workdir / ".cloudify" / "profiles" / "local" / "blueprints" / "kub")
    assert cfy.init(inputs, check=False).returncode == 0
