"""Shared fixtures: one tiny model with every target modality, each graph exported once per session
(on first use, so a single test file exports only the graphs it needs)."""
import pytest
import torch

import codebind_core as cb
from codebind_core.config import TARGET_MODALITIES
from codebind_core.export import OnnxExportConfig, export_onnx
from codebind_core.export.artifact import model_fingerprint


class LazyExports:
    """``exports[modality, precision]`` -> ExportedGraph, exported on first access."""

    def __init__(self, model, out_dir):
        self.model, self.out_dir, self.graphs = model, out_dir, {}
        self.fingerprint = model_fingerprint(model)

    def __getitem__(self, key):
        if key not in self.graphs:
            modality, precision = key
            self.graphs[key] = export_onnx(self.model, modality, self.out_dir,
                                           OnnxExportConfig(precision=precision), fingerprint=self.fingerprint)
        return self.graphs[key]


@pytest.fixture(scope="session")
def tiny_model():
    torch.manual_seed(0)
    return cb.create_model(cb.CodeBindConfig.preset("tiny", targets=list(TARGET_MODALITIES))).eval()


@pytest.fixture(scope="session")
def exported(tiny_model, tmp_path_factory):
    return LazyExports(tiny_model, tmp_path_factory.mktemp("onnx"))
