"""Tiny randomly initialised depth models, saved the way a hub checkpoint is, for tests.

Weights are random, so the depth values mean nothing; shapes, dtypes, the loading path and
the post-processing are the real ones.
"""
from __future__ import annotations

from pathlib import Path


def _save_depth_anything(folder: str | Path, side: int, backbone: dict, head: dict) -> Path:
    """Depth Anything (V2 layout): a DINOv2 ``backbone`` (Dinov2Config arguments), the DPT
    ``head`` (DepthAnythingConfig arguments), an image processor resizing to ``side`` px."""
    import torch
    from transformers import (
        DepthAnythingConfig,
        DepthAnythingForDepthEstimation,
        Dinov2Config,
        DPTImageProcessor,
    )

    torch.manual_seed(0)
    config = DepthAnythingConfig(
        backbone_config=Dinov2Config(patch_size=14, image_size=side, reshape_hidden_states=False,
                                     apply_layernorm=True, **backbone),
        **head,
    )
    model = DepthAnythingForDepthEstimation(config).eval()
    processor = DPTImageProcessor(
        do_resize=True, size={"height": side, "width": side}, keep_aspect_ratio=True,
        ensure_multiple_of=14, resample=3, do_rescale=True, do_normalize=True,
        image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225], do_pad=False,
    )
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder


def save_tiny_depth_anything(folder: str | Path, metric: bool = False) -> Path:
    """Depth Anything (V2 layout) with a 4-layer DINOv2 backbone; relative unless ``metric``."""
    return _save_depth_anything(
        folder, 56,
        dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
             out_features=["stage1", "stage2", "stage3", "stage4"], out_indices=[1, 2, 3, 4]),
        dict(fusion_hidden_size=16, head_hidden_size=8, neck_hidden_sizes=[8, 16, 32, 32],
             reassemble_hidden_size=32, depth_estimation_type="metric" if metric else "relative"),
    )


def save_depth_anything_v2_small(folder: str | Path) -> Path:
    """Depth Anything V2 Small's architecture at full size (the hub config's sizes), random
    weights: it times like the real model (the benches)."""
    return _save_depth_anything(
        folder, 518,
        dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, mlp_ratio=4,
             out_features=["stage3", "stage6", "stage9", "stage12"], out_indices=[3, 6, 9, 12]),
        dict(fusion_hidden_size=64, head_hidden_size=32, neck_hidden_sizes=[48, 96, 192, 384],
             reassemble_hidden_size=384, reassemble_factors=[4, 2, 1, 0.5], depth_estimation_type="relative"),
    )


def save_tiny_dpt(folder: str | Path) -> Path:
    """Plain-ViT DPT (the ``Intel/dpt-large`` layout) at a 32 px square input."""
    import torch
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessor

    torch.manual_seed(0)
    config = DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
        image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3],
        neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16, head_in_index=-1,
        is_hybrid=False,
    )
    model = DPTForDepthEstimation(config).eval()
    processor = DPTImageProcessor(
        do_resize=True, size={"height": 32, "width": 32}, keep_aspect_ratio=False,
        ensure_multiple_of=1, do_rescale=True, do_normalize=True,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    folder = Path(folder)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    return folder
