"""OpenCLIP bridges by architecture name: the ViT and the convolutional (timm) image towers give
the token layout the model relies on, and a CNN-bridge model saves, loads and exports exactly."""
import pytest
import torch

import codebind_core as cb
from codebind_core.config import BRIDGE_ARCHS, BridgeConfig
from codebind_core.encoders.bridge import OpenCLIPBridge
from codebind_core.export import OnnxExportConfig, export_onnx
from codebind_core.export.verify import FP32_MAX_ABS, check_parity


def cnn_model(targets=("depth",)):
    torch.manual_seed(0)
    cfg = cb.CodeBindConfig.preset("tiny", targets=list(targets), bridge={"arch": "tiny-cnn"})
    return cb.create_model(cfg).eval()


@pytest.mark.parametrize("arch, patch, cells", [("tiny", 8, 64), ("tiny-cnn", 32, 4)])
def test_named_arch_token_layout(arch, patch, cells):
    torch.manual_seed(0)
    bridge = OpenCLIPBridge(BridgeConfig(arch=arch))
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        tokens = bridge.image_tokens(images)
        pooled = bridge.clip.encode_image(images)
    if isinstance(pooled, tuple):  # a ViT set to output tokens returns (pooled, tokens)
        pooled = pooled[0]
    assert bridge.patch_size == patch and bridge.image_num_patches == cells
    assert tuple(tokens.shape) == (3, 1 + cells, 64)
    # the first token is exactly the embedding the bridge was trained (and zero-shots) with
    assert torch.equal(tokens[:, 0], pooled)
    assert tuple(bridge.patchify_image(images).shape) == (3, cells, bridge.image_patch_dim)
    assert bridge.image_patch_dim == 3 * patch * patch


def test_cnn_tokens_are_local():
    """Each CNN token is centred on its own image region: changing the top-left quarter moves the
    top-left token most and the opposite corner's least (receptive fields overlap)."""
    torch.manual_seed(0)
    bridge = OpenCLIPBridge(BridgeConfig(arch="tiny-cnn"))
    a = torch.randn(1, 3, 64, 64)
    b = a.clone()
    b[..., :32, :32] = torch.randn(1, 3, 32, 32)  # top-left cell only
    with torch.no_grad():
        diff = (bridge.image_tokens(a) - bridge.image_tokens(b))[0, 1:].norm(dim=-1)
    assert int(diff.argmax()) == 0 and int(diff.argmin()) == 3  # row-major 2 x 2 cells


def test_arch_lookup_and_errors():
    assert BridgeConfig(arch="tiny").openclip_cfg() == BRIDGE_ARCHS["tiny"]
    cfg = BridgeConfig(arch="tiny-cnn").openclip_cfg()
    cfg["embed_dim"] = 1  # a copy: the registry is not changed by its users
    assert BRIDGE_ARCHS["tiny-cnn"]["embed_dim"] == 64
    with pytest.raises(ValueError, match="unknown bridge architecture 'no-such-arch'"):
        BridgeConfig(arch="no-such-arch").openclip_cfg()
    resnet = {**BRIDGE_ARCHS["tiny"], "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16}}
    with pytest.raises(ValueError, match="ModifiedResNet has no token output"):
        OpenCLIPBridge(BridgeConfig(arch="rn", model_cfg=resnet))


def test_cnn_bridge_model_round_trip(tmp_path):
    model = cnn_model()
    images, depth = torch.randn(2, 3, 64, 64), torch.randn(2, 1, 64, 64)
    with torch.no_grad():
        before = model.encode("image", images), model.encode("depth", depth), model.encode("text", ["a cone."])
    cb.save(model, tmp_path / "m")
    loaded = cb.load(tmp_path / "m").eval()
    # the architecture is written out, so the checkpoint does not depend on BRIDGE_ARCHS staying put
    assert loaded.config.bridge.arch == "tiny-cnn" and loaded.config.bridge.model_cfg == BRIDGE_ARCHS["tiny-cnn"]
    with torch.no_grad():
        after = loaded.encode("image", images), loaded.encode("depth", depth), loaded.encode("text", ["a cone."])
    for x, y in zip(before, after):
        assert torch.equal(x.shared, y.shared)


def test_cnn_bridge_image_graph_matches_torch(tmp_path):
    model = cnn_model()
    graph = export_onnx(model, "image", tmp_path, OnnxExportConfig(precision="fp32"))
    report = check_parity(model, graph, batch_sizes=(1, 3))
    assert report.max_abs_shared <= FP32_MAX_ABS and report.code_agreement == 1.0, report.line()


def test_training_override_of_arch_takes_effect():
    """`model.overrides.bridge.arch` in a training config changes the architecture (deep merge)."""
    from codebind_core.training.config import ModelSpec
    from codebind_core.training.run import bridge_model_cfg

    built = ModelSpec(preset="tiny", targets=["depth"], overrides={"bridge": {"arch": "tiny-cnn"}}).build()
    assert bridge_model_cfg(built)["vision_cfg"]["timm_model_name"] == "test_resnet"
