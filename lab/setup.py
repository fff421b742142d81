from setuptools import setup

setup(
    name="kub-lab",
    version="0.1.0",
    description="Test hosts on one machine and a local Kubernetes package repository for kub",
    packages=["kub_lab"],
    include_package_data=True,
    package_data={"kub_lab": ["hostinit.sh", "upstream/containerd.service"]},
    python_requires=">=3.10",
    install_requires=["PyYAML>=6"],
    entry_points={"console_scripts": ["kub-lab = kub_lab.cli:main"]},
)
