"""render_scene: the multi-object tabletop renderer used by the ROS sensor player."""
import numpy as np
import pytest

from codebind_core.data.synth import ObjectSpec, PinholeCamera, TabletopScene, render_scene

OBJECTS = [
    ObjectSpec("sphere", (0.6, 0.0), scale=0.1, colour="red", temperature=320.0, material="metal"),
    ObjectSpec("cylinder", (0.9, 0.35), yaw=0.4, scale=0.12, colour="blue", pattern="stripes"),
    ObjectSpec("torus", (0.9, -0.35), scale=0.12, colour="green", material="rubber", temperature=280.0),
]


def camera(width=96, height=72):
    return PinholeCamera.from_fov(width, height, 70.0, PinholeCamera.look_at_pose((-0.2, 0.0, 0.5), (0.8, 0.0, 0.0)))


def test_boxes_contain_the_projected_centres_and_match_the_mask():
    frame = render_scene(OBJECTS, camera(), seed=1)
    assert [o.category for o in frame.objects] == ["sphere", "cylinder", "torus"]
    for obj in frame.objects:
        assert obj.visible_pixels > 30 and obj.box_2d is not None
        u0, v0, u1, v1 = obj.box_2d
        assert u0 <= obj.pixel[0] <= u1 and v0 <= obj.pixel[1] <= v1
        rows, cols = np.nonzero(frame.instance_mask == obj.index)
        assert cols.min() - 0.5 == u0 and rows.max() + 0.5 == v1
    # the camera looks along +x: the object at +y (left in the world) is left in the image
    left, right = frame.objects[1], frame.objects[2]
    assert left.pixel[0] < frame.camera.cx < right.pixel[0]


def test_objects_rest_on_the_floor_and_depth_is_metric():
    top = PinholeCamera.from_fov(64, 64, 40.0,
                                 PinholeCamera.look_at_pose((0.6, 0.0, 1.0), (0.6, 0.0, 0.0), up=(1, 0, 0)))
    frame = TabletopScene(OBJECTS[:1]).render(top, noise=False)
    # straight down from 1 m: the sphere (radius 0.1 on the floor) tops out at 0.8 m, the floor at 1 m
    assert abs(frame.depth[31:33, 31:33].min() - 0.8) < 1e-3
    ray = np.linalg.norm(top.optical_rays()[2, 2])
    assert abs(frame.depth[2, 2] / ray * ray - 1.0) < 1e-3
    sphere = frame.objects[0]
    assert np.allclose(sphere.centre_world, [0.6, 0.0, 0.1], atol=1e-3)


def test_point_cloud_is_the_back_projected_depth_in_the_optical_frame():
    frame = render_scene(OBJECTS, camera(), seed=2)
    valid = frame.depth > 0
    assert frame.points.shape == (int(valid.sum()), 6)
    assert np.allclose(frame.points[:, 2], frame.depth[valid])
    uv = frame.camera.project(frame.points[:, :3].astype(np.float64))
    rows, cols = np.nonzero(valid)
    assert np.abs(uv[:, 0] - cols).max() < 1e-3 and np.abs(uv[:, 1] - rows).max() < 1e-3
    info = frame.camera_info
    assert info["width"] == 96 and info["k"][0] == pytest.approx(frame.camera.fx)


def test_thermal_sees_temperature_and_emissivity():
    frame = render_scene(OBJECTS, camera(), seed=3, noise=False)
    mean = [frame.thermal[frame.instance_mask == i].mean() for i in range(3)]
    floor = frame.thermal[frame.instance_mask == -1].mean()
    # hot metal (emissivity 0.15) reads only a little above ambient; cold rubber reads cold
    assert floor < mean[0] < 320.0 - 10 and mean[2] < floor - 5


def test_scene_is_deterministic_and_gives_per_object_audio_and_touch():
    a, b = render_scene(OBJECTS, camera(), seed=5), render_scene(OBJECTS, camera(), seed=5)
    assert np.array_equal(a.rgb, b.rgb) and np.array_equal(a.thermal, b.thermal)
    scene = TabletopScene(OBJECTS, seed=5)
    audio = scene.impact_audio(0, seconds=0.5)
    assert audio.shape == (8000,) and audio.dtype == np.float32
    assert np.array_equal(audio, TabletopScene(OBJECTS, seed=5).impact_audio(0, seconds=0.5))
    assert scene.tactile(2, size=24).shape == (24, 24, 3)


@pytest.mark.parametrize("kwargs", [dict(category="chair", position=(0, 0)), dict(category="box", position=(0, np.nan)),
                                    dict(category="box", position=(0, 0), colour="teal"),
                                    dict(category="box", position=(0, 0), scale=-1.0)])
def test_bad_object_specs_raise(kwargs):
    with pytest.raises(ValueError):
        ObjectSpec(**kwargs)


def test_bad_scene_requests_raise():
    with pytest.raises(ValueError):
        TabletopScene([])
    with pytest.raises(ValueError):
        TabletopScene(OBJECTS).impact_audio(7)
    with pytest.raises(ValueError):
        TabletopScene(OBJECTS).render("camera")
