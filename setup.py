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
    install_requires=[
        "cloudify-common==7.0.5",
        "fabric>=3,<4",
        "PyYAML>=6",
    ],
    extras_require={
        "dev": ["cloudify==7.0.5", "pytest>=8"],
    },
)
