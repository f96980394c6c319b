"""The package's ROS interfaces: generated, importable next to our Python code, declared
consistently in CMakeLists.txt / package.xml, and usable over DDS."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ros_testing import wait_until
from rclpy.node import Node
from rclpy.serialization import deserialize_message, serialize_message

from codebind_core.types import Embedding as CoreEmbedding
from codebind_ros.conversions import embedding_msg
from codebind_ros.msg import (AudioData, Embedding, EmbeddingArray, Localization,
                              LocalizationArray, Proposal, ProposalArray, QueryResult)
from codebind_ros.srv import QueryText

ROOT = Path(__file__).resolve().parents[2]


def test_generated_modules_merge_into_our_package():
    import codebind_ros.nodes.encoder_node  # noqa: F401  (our code, same package)
    import codebind_ros.msg as generated

    assert Path(codebind_ros.__file__).parent == ROOT / "codebind_ros"
    assert codebind_ros.interfaces_dir() is not None
    assert Path(generated.__file__).parent.parent == codebind_ros.interfaces_dir()


@pytest.mark.parametrize("msg_type, fields", [
    (Embedding, {"header": "std_msgs/Header", "modality": "string", "model_id": "string",
                 "path": "string", "shared": "sequence<float>", "specific": "sequence<float>",
                 "codes": "sequence<uint16>", "specific_codes": "sequence<uint16>"}),
    (EmbeddingArray, {"header": "std_msgs/Header", "embeddings": "sequence<codebind_ros/Embedding>"}),
    (Localization, {"score": "float", "box": "sensor_msgs/RegionOfInterest", "has_position": "boolean",
                    "position": "geometry_msgs/Point", "size": "geometry_msgs/Vector3",
                    "embedding_id": "string"}),
    (LocalizationArray, {"header": "std_msgs/Header", "query_modality": "string", "query_text": "string",
                         "query_stamp": "builtin_interfaces/Time",
                         "results": "sequence<codebind_ros/Localization>"}),
    (Proposal, {"embedding": "codebind_ros/Embedding", "box": "sensor_msgs/RegionOfInterest",
                "has_position": "boolean", "position": "geometry_msgs/Point", "size": "geometry_msgs/Vector3"}),
    (ProposalArray, {"header": "std_msgs/Header", "proposals": "sequence<codebind_ros/Proposal>"}),
    (AudioData, {"header": "std_msgs/Header", "sample_rate": "uint32", "channels": "uint16",
                 "sample_format": "string", "data": "sequence<uint8>"}),
    (QueryResult, {"score": "float", "observation_id": "uint64", "modality": "string",
                   "stamp": "builtin_interfaces/Time", "frame_id": "string", "has_position": "boolean",
                   "position": "geometry_msgs/Point", "has_box": "boolean",
                   "box": "sensor_msgs/RegionOfInterest", "kind": "uint8", "object_id": "uint64",
                   "extent": "geometry_msgs/Vector3", "first_seen": "builtin_interfaces/Time",
                   "views": "uint32", "modalities": "sequence<string>", "status": "string", "moves": "uint32",
                   "has_previous_position": "boolean", "previous_position": "geometry_msgs/Point"}),
    (QueryText.Request, {"text": "string", "top_k": "uint32", "modality": "string",
                         "since": "builtin_interfaces/Time", "until": "builtin_interfaces/Time",
                         "observations": "boolean", "include_gone": "boolean"}),
    (QueryText.Response, {"success": "boolean", "message": "string",
                          "results": "sequence<codebind_ros/QueryResult>"}),
])
def test_interface_fields(msg_type, fields):
    assert msg_type.get_fields_and_field_types() == fields


def test_audio_format_constants():
    assert [AudioData.FORMAT_U8, AudioData.FORMAT_S16LE, AudioData.FORMAT_F32LE] == ["U8", "S16LE", "F32LE"]


def test_core_embedding_round_trips_through_a_serialised_message():
    shared = torch.nn.functional.normalize(torch.randn(2, 16), dim=-1)
    core = CoreEmbedding(shared, shared.flip(-1), torch.tensor([[0, 65535], [7, 8]]),
                         torch.tensor([[1, 2, 3], [4, 5, 6]]), "depth", "unified")
    header = Embedding().header
    header.frame_id = "cam"
    msg = embedding_msg.to_msg(core, 1, header, "depth", "tiny-1")
    back = deserialize_message(serialize_message(msg), Embedding)
    arrays = embedding_msg.from_msg(back)
    np.testing.assert_array_equal(arrays.shared, shared[1].numpy())
    np.testing.assert_array_equal(arrays.specific, shared[1].flip(-1).numpy())
    np.testing.assert_array_equal(arrays.codes, [7, 8])
    np.testing.assert_array_equal(arrays.specific_codes, [4, 5, 6])
    assert (back.header.frame_id, back.modality, back.model_id) == ("cam", "depth", "tiny-1")
    assert back.path == arrays.codebook_set == "unified"  # the codebook set under its wire name
    with pytest.raises(ValueError, match="uint16 range"):
        embedding_msg.to_msg(CoreEmbedding(shared, None, torch.tensor([[70000, 1], [0, 0]]), None,
                                           "depth", "depth"), 0, header, "depth", "m")
    with pytest.raises(ValueError, match="outside the batch"):
        embedding_msg.to_msg(core, 2, header, "depth", "m")


def test_query_service_round_trip_over_dds(spin, ros_context, topic):
    server = spin.add(Node("query_server", context=ros_context))
    client_node = spin.add(Node("query_client", context=ros_context))

    def answer(request, response):
        response.success = True
        response.message = f"{request.text}:{request.top_k}:{request.modality}"
        response.results = [QueryResult(score=0.5, observation_id=i, modality="camera")
                            for i in range(request.top_k)]
        return response

    server.create_service(QueryText, f"{topic}/query", answer)
    client = client_node.create_client(QueryText, f"{topic}/query")
    assert client.wait_for_service(timeout_sec=10.0)
    future = client.call_async(QueryText.Request(text="the red sphere", top_k=3, modality="camera"))
    assert wait_until(future.done, timeout=10.0)
    response = future.result()
    assert response.success and response.message == "the red sphere:3:camera"
    assert [r.observation_id for r in response.results] == [0, 1, 2]


def test_cmake_and_package_xml_declare_every_interface_and_dependency():
    from catkin_pkg.package import parse_package

    cmake = (ROOT / "CMakeLists.txt").read_text()
    package = parse_package(str(ROOT / "package.xml"))
    assert package.package_format == 3
    assert re.search(r"project\((\w+)\)", cmake)[1] == package.name == "codebind_ros"
    declared = set(re.findall(r'"((?:msg|srv)/\w+\.(?:msg|srv))"', cmake))
    on_disk = {str(p.relative_to(ROOT)) for p in (ROOT / "msg").glob("*.msg")}
    on_disk |= {str(p.relative_to(ROOT)) for p in (ROOT / "srv").glob("*.srv")}
    assert declared == on_disk
    used = set()
    for path in on_disk:
        used |= set(re.findall(r"^(\w+)/\w+", (ROOT / path).read_text(), re.M))
    depends = {d.name for d in package.build_depends} & {d.name for d in package.exec_depends}
    assert used - {"codebind_ros"} <= depends
    deps_line = re.search(r"DEPENDENCIES ([\w ]+)", cmake)[1].split()
    assert used - {"codebind_ros"} <= set(deps_line)
    assert "rosidl_interface_packages" in [g.name for g in package.member_of_groups]


def test_venv_install_layout():
    prefix = Path(sys.prefix)
    assert (prefix / "share/ament_index/resource_index/packages/codebind_ros").is_file()
    assert (prefix / "share/codebind_ros/package.xml").is_file()
    assert sorted(p.name for p in (prefix / "share/codebind_ros/msg").glob("*.msg")) == \
        sorted(p.name for p in (ROOT / "msg").glob("*.msg"))
    assert list(prefix.glob("lib/libcodebind_ros__rosidl_typesupport_c.so"))
