"""codebind-export CLI: exports from a checkpoint, verifies, and fails clearly."""
import json

import pytest
import torch

import codebind_core as cb
from codebind_core.export import tensorrt_available
from codebind_core.export.cli import main


def test_export_from_checkpoint_with_verification(tmp_path, capsys):
    torch.manual_seed(0)
    model = cb.create_model(cb.CodeBindConfig.preset("tiny", targets=["thermal"])).eval()
    cb.save(model, tmp_path / "ckpt")
    out = tmp_path / "exported"
    rc = main(["--checkpoint", str(tmp_path / "ckpt"), "--out", str(out), "--modalities", "thermal",
               "--precision", "fp32", "--verify", "--max-batch", "16"])
    printed = capsys.readouterr().out
    assert rc == 0, printed
    assert "PASS" in printed and "FAIL" not in printed
    assert sorted(p.name for p in out.iterdir()) == ["thermal.codebooks.safetensors", "thermal.fp32.json",
                                                     "thermal.fp32.onnx"]
    manifest = json.loads((out / "thermal.fp32.json").read_text())
    assert manifest["max_batch"] == 16 and manifest["outputs"] == ["shared", "specific", "codes", "specific_codes"]


def test_unknown_modality_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as e:
        main(["--preset", "tiny", "--targets", "depth", "--out", str(tmp_path), "--modalities", "sonar"])
    assert e.value.code == 2
    assert "cannot encode ['sonar']" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())


def test_bad_options_are_errors(tmp_path, capsys):
    assert main(["--preset", "huge", "--out", str(tmp_path)]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["--preset", "tiny", "--out", str(tmp_path), "--opset", "11"]) == 2
    assert "opset" in capsys.readouterr().err
    assert main(["--preset", "tiny", "--out", str(tmp_path), "--tensorrt", "--min-batch", "9",
                 "--opt-batch", "4"]) == 2
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path)])  # no model source


@pytest.mark.skipif(tensorrt_available() and torch.cuda.is_available(), reason="TensorRT is installed here")
def test_tensorrt_unavailable_fails_before_exporting(tmp_path, capsys):
    rc = main(["--preset", "tiny", "--out", str(tmp_path / "o"), "--tensorrt", "--modalities", "depth"])
    assert rc == 3
    assert "TensorRT" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
