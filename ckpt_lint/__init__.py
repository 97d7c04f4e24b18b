"""ckpt_lint: find and fix checkpoint/resume hazards in distributed training code."""

__version__ = "0.1.0"
