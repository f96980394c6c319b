"""SynthBind geometry: camera convention, analytic depth, orientation, supersampling."""
from dataclasses import replace

import numpy as np
import pytest

from codebind_core.data.synth import PinholeCamera, SynthConfig, synthesize
from codebind_core.data.synth.depth import clean_depth
from codebind_core.data.synth.factors import ObjectFactors, held_out_pairs, sample_factors
from codebind_core.data.synth.raycast import ObjectPose, cast_objects
from codebind_core.data.synth.shapes import unit_mesh
from codebind_core.geometry import Pinhole

CFG = SynthConfig(num_samples=40, image_size=64, sensor_noise=False, occlusion_prob=0.0)


def sphere_factors(position, scale=0.1) -> ObjectFactors:
    f = sample_factors(CFG, 0, "train", held_out_pairs(CFG))
    return f.replace(category=CFG.categories.index("sphere"), position=tuple(position), scale=scale,
                     rotation=(1.0, 0.0, 0.0, 0.0), aspect=(1.0, 1.0, 1.0), occluded=0, wall_distance=3.5)


def analytic_sphere_depth(camera: PinholeCamera, centre, radius) -> np.ndarray:
    d = camera.optical_rays()
    a = np.einsum("...i,...i->...", d, d)
    b = -2 * d @ np.asarray(centre)
    c = np.dot(centre, centre) - radius ** 2
    disc = b * b - 4 * a * c
    t = (-b - np.sqrt(np.where(disc >= 0, disc, np.nan))) / (2 * a)
    return t  # z-depth, since d has unit z


def test_depth_of_a_sphere_matches_the_analytic_distance_within_1mm():
    centre, r = (0.0, 0.0, 0.6), 0.1
    depth = synthesize(CFG, sphere_factors(centre, r), 0, ["depth"])["depth"]
    camera = PinholeCamera.from_fov(64, 64, CFG.fov_deg)
    truth = analytic_sphere_depth(camera, np.array(centre), r)
    uv = camera.project(np.array([centre]))[0]
    rows, cols = np.mgrid[0:64, 0:64]
    # pixels well inside the silhouette (the mesh is a 9-degree tessellation of the sphere)
    inner = np.hypot(cols - uv[0], rows - uv[1]) < 0.6 * camera.fx * r / centre[2]
    assert inner.sum() > 100
    assert np.nanmax(np.abs(depth[inner] - truth[inner])) < 1e-3
    assert abs(depth[32, 32] - 0.5) < 1e-3 or abs(depth[31, 31] - 0.5) < 1e-3
    # outside the object the wall reads 0: 3.5 m is beyond the 3 m range
    assert depth[0, 0] == 0.0


def test_depth_of_a_box_face_is_exact():
    mesh = unit_mesh("box")
    camera = PinholeCamera.from_fov(48, 48, 40.0)
    pose = ObjectPose(np.eye(3), np.array([0.0, 0.0, 1.2]), 0.2)
    hits = cast_objects([(mesh, pose)], np.zeros(3), camera.optical_rays())
    depth = clean_depth(hits, camera.optical_rays(), 5.0, 10.0)
    front = 1.2 + 0.2 * float(mesh.vertices[:, 2].min())
    centre_block = depth[20:28, 20:28]
    assert np.abs(centre_block - front).max() < 1e-4
    # face normals point back to the camera
    assert np.allclose(hits.normal[24, 24], [0.0, 0.0, -1.0], atol=1e-6)


def test_object_right_and_up_in_camera_frame_appears_right_and_top_in_image():
    # optical frame: +x right, +y down -> (+0.12, -0.12) is right and up
    out = synthesize(CFG, sphere_factors((0.12, -0.12, 0.6), 0.06), 0, ["depth", "image"])
    rows, cols = np.nonzero(out["depth"] > 0)
    assert len(rows) > 20
    assert cols.mean() > 40 and rows.mean() < 24
    # the image shows the object in the same place: pixels differ from the plain backdrop there
    img = out["image"].astype(float)
    assert np.abs(img[rows, cols] - img[60, 4]).sum(axis=1).mean() > 20


def test_projection_lands_on_the_hit_pixel_and_supersampled_camera_is_consistent():
    camera = PinholeCamera.from_fov(40, 30, 60.0)
    point = np.array([[0.05, -0.03, 0.7]])
    u, v = camera.project(point)[0]
    ray = camera.optical_rays()[int(round(v)), int(round(u))]
    assert np.allclose(ray * 0.7, point[0], atol=0.7 / camera.fx)
    fine = camera.scaled(2)
    # the mean of the 2x2 sub-pixel rays is the pixel's own ray
    sub = fine.optical_rays().reshape(30, 2, 40, 2, 3).mean(axis=(1, 3))
    assert np.allclose(sub, camera.optical_rays())


def test_look_at_puts_the_target_at_the_principal_point_with_up_up():
    pose = PinholeCamera.look_at_pose((-1.0, 0.0, 0.5), (0.5, 0.0, 0.0))
    cam = PinholeCamera.from_fov(64, 48, 60.0, pose)
    uv = cam.project(cam.world_to_camera(np.array([[0.5, 0.0, 0.0]])))[0]
    assert np.allclose(uv, [cam.cx, cam.cy])
    above = cam.project(cam.world_to_camera(np.array([[0.5, 0.0, 0.3]])))[0]
    left = cam.project(cam.world_to_camera(np.array([[0.5, 0.3, 0.0]])))[0]
    assert above[1] < cam.cy and left[0] < cam.cx  # world up is image up, world left (+y) is image left


@pytest.mark.parametrize("bad", [dict(width=0), dict(fx=-1.0), dict(pose=np.ones((4, 4)))])
def test_camera_rejects_bad_parameters(bad):
    args = dict(width=8, height=8, fx=10.0, fy=10.0, cx=3.5, cy=3.5, pose=np.eye(4)) | bad
    with pytest.raises(ValueError):
        PinholeCamera(**args)


def test_posed_camera_is_a_pinhole_with_a_pose():
    pose = PinholeCamera.look_at_pose((-1.0, 0.0, 0.5), (0.5, 0.0, 0.0))
    cam = PinholeCamera.from_fov(64, 48, 60.0, pose)
    fine = cam.scaled(2)
    assert isinstance(fine, PinholeCamera) and np.array_equal(fine.pose, pose) and fine.width == 128
    assert cam.intrinsics == Pinhole(64, 48, cam.fx, cam.fy, 31.5, 23.5) and cam == replace(cam)
    assert cam != replace(cam, pose=np.eye(4))
    with pytest.raises(ValueError, match="at most 16384"):
        PinholeCamera(16385, 8, 10.0, 10.0, 3.5, 3.5)


def test_matrix_quaternion_round_trip():
    from codebind_core.data.synth.geometry import matrix_to_quaternion, quaternion_to_matrix, random_quaternion

    rng = np.random.default_rng(0)
    for _ in range(200):
        q = random_quaternion(rng)
        assert np.allclose(matrix_to_quaternion(quaternion_to_matrix(q)), q, atol=1e-9)
    for angle in (0.0, np.pi / 2, np.pi):  # trace <= 0 branches included
        for axis in "xyz":
            from codebind_core.data.synth.geometry import axis_rotation

            m = axis_rotation(axis, angle)
            assert np.allclose(quaternion_to_matrix(matrix_to_quaternion(m)), m, atol=1e-9)


@pytest.mark.parametrize("elevation", [0.0, 30.0])
def test_upright_cone_stands_apex_up_and_shows_its_top_from_above(elevation):
    """pose='upright': the canonical z-up object stands in the image (apex above the base), and a
    camera elevation tilts the object's up axis towards the camera (-z in the optical frame)."""
    from codebind_core.data.synth.geometry import quaternion_to_matrix, upright_quaternion

    q = upright_quaternion(1.0, np.deg2rad(elevation))
    up = quaternion_to_matrix(q) @ np.array([0.0, 0.0, 1.0])
    e = np.deg2rad(elevation)
    assert np.allclose(up, [0.0, -np.cos(e), -np.sin(e)], atol=1e-9)

    f = sphere_factors((0.0, 0.0, 0.5), scale=0.15)
    f = f.replace(category=CFG.categories.index("cone"), rotation=tuple(q))
    depth = synthesize(CFG, f, 0, ["depth"])["depth"]
    rows = np.where((depth > 0) & (depth < 1.0))[0]
    cols_per_row = {r: np.count_nonzero((depth[r] > 0) & (depth[r] < 1.0)) for r in (rows.min() + 2, rows.max() - 2)}
    top, bottom = cols_per_row[rows.min() + 2], cols_per_row[rows.max() - 2]
    assert top < bottom / 2, (top, bottom)  # narrow apex at the top of the image, wide base below


def test_upright_pose_draws_yaw_and_elevation_in_range():
    from codebind_core.data.synth.geometry import quaternion_to_matrix

    cfg = SynthConfig(num_samples=200, pose="upright", elevation_range=(10.0, 40.0))
    held = held_out_pairs(cfg)
    ups = np.array([quaternion_to_matrix(sample_factors(cfg, i, "train", held).rotation) @ [0, 0, 1]
                    for i in range(200)])
    elevation = np.rad2deg(np.arcsin(-ups[:, 2]))
    assert np.all(ups[:, 0] ** 2 < 1e-18) and elevation.min() >= 10.0 - 1e-6 and elevation.max() <= 40.0 + 1e-6
    assert elevation.max() - elevation.min() > 20.0  # spread over the range, not a constant
