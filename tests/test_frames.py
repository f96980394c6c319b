"""Rigid transforms, the stamped transform buffer, bounded waiting and camera views, with numbers."""
import math

import numpy as np
import pytest

from codebind_core.geometry import (CameraView, FrameNotConnected, PendingTransforms, Pinhole, RigidTransform,
                                    TransformBuffer, TransformNotYetAvailable, TransformTooOld, quaternion_slerp)

S = 10 ** 9  # ns per second
EPS = 1e-9   # float64 arithmetic on metre-scale numbers: errors ~1e-15, far below this


def test_compose_inverse_apply():
    a = RigidTransform.from_yaw(1.0, 0.0, 0.0, math.pi / 2)
    np.testing.assert_allclose(a.apply([1.0, 0.0, 0.0]), [1.0, 1.0, 0.0], atol=EPS)
    b = RigidTransform((0.3, -0.2, 0.5), (0.1, 0.2, 0.3, 0.9), normalize=True)
    p = np.array([[0.4, 1.0, -2.0], [3.0, 0.0, 1.0]])
    np.testing.assert_allclose((a * b).apply(p), a.apply(b.apply(p)), atol=EPS)
    np.testing.assert_allclose((b.inverse() * b).matrix(), np.eye(4), atol=EPS)
    np.testing.assert_allclose(RigidTransform.from_matrix(b.matrix()).matrix(), b.matrix(), atol=EPS)
    # extent of a 0.2 x 0.1 x 0.1 box turned 90 degrees about z
    np.testing.assert_allclose(a.rotate_extent((0.2, 0.1, 0.1)), [0.1, 0.2, 0.1], atol=EPS)


def test_slerp_halfway_is_half_the_angle():
    q0 = RigidTransform.from_yaw(0, 0, 0, 0.0).rotation
    q1 = RigidTransform.from_yaw(0, 0, 0, 2.0).rotation
    q = quaternion_slerp(q0, q1, 0.25)
    np.testing.assert_allclose(q, RigidTransform.from_yaw(0, 0, 0, 0.5).rotation, atol=EPS)
    # shortest arc: -q1 is the same rotation
    np.testing.assert_allclose(quaternion_slerp(q0, -q1, 0.25), q, atol=EPS)


def test_bad_transforms_are_refused():
    with pytest.raises(ValueError, match="unit norm"):
        RigidTransform((0, 0, 0), (0, 0, 0, 2))
    with pytest.raises(ValueError, match="NaN"):
        RigidTransform((0, float("nan"), 0))
    with pytest.raises(ValueError, match="not a rotation"):
        RigidTransform.from_matrix(np.diag([1.0, 1.0, -1.0, 1.0]))


def _robot_buffer(cache_ns=10 * S):
    """map <- odom static (10, 0, 0); odom <- base at 0 s: origin, at 1 s: (2, 0, 0) turned 90 deg;
    base <- camera static (0.5, 0, 0.2); base <- lidar static (0, 0, 1)."""
    buf = TransformBuffer(cache_ns=cache_ns)
    buf.set_transform("map", "odom", RigidTransform((10, 0, 0)), 0, static=True)
    buf.set_transform("odom", "base", RigidTransform.from_yaw(0, 0, 0, 0.0), 0)
    buf.set_transform("odom", "base", RigidTransform.from_yaw(2, 0, 0, math.pi / 2), S)
    buf.set_transform("base", "camera", RigidTransform((0.5, 0, 0.2)), 0, static=True)
    buf.set_transform("base", "lidar", RigidTransform((0, 0, 1)), 0, static=True)
    return buf


def test_chained_interpolated_lookup():
    buf = _robot_buffer()
    t = buf.lookup("map", "camera", S // 2)   # base at (1, 0, 0), yaw 45 deg
    c = math.cos(math.pi / 4)
    np.testing.assert_allclose(t.apply([0, 0, 0]), [11 + 0.5 * c, 0.5 * c, 0.2], atol=EPS)
    np.testing.assert_allclose(t.apply([1, 0, 0]), [11 + 1.5 * c, 1.5 * c, 0.2], atol=EPS)
    inv = buf.lookup("camera", "map", S // 2)
    np.testing.assert_allclose((inv * t).matrix(), np.eye(4), atol=EPS)
    # across two branches below base: lidar origin seen from the camera
    np.testing.assert_allclose(buf.lookup("camera", "lidar", S // 2).apply([0, 0, 0]), [-0.5, 0, 0.8], atol=EPS)
    # exact stamps and the newest common stamp (None)
    np.testing.assert_allclose(buf.lookup("map", "base", S).apply([0, 0, 0]), [12, 0, 0], atol=EPS)
    assert buf.latest_common_stamp("map", "camera") == S
    np.testing.assert_allclose(buf.lookup("map", "camera").apply([0, 0, 0]), [12, 0.5, 0.2], atol=EPS)


def test_not_yet_available_then_available():
    buf = _robot_buffer()
    with pytest.raises(TransformNotYetAvailable) as e:
        buf.lookup("map", "camera", 3 * S // 2)
    assert (e.value.parent, e.value.child, e.value.newest_ns) == ("odom", "base", S)
    buf.set_transform("odom", "base", RigidTransform.from_yaw(4, 0, 0, math.pi / 2), 2 * S)
    np.testing.assert_allclose(buf.lookup("map", "base", 3 * S // 2).apply([0, 0, 0]), [13, 0, 0], atol=EPS)


def test_too_old_after_the_history_moved_on():
    buf = _robot_buffer(cache_ns=S)
    for k in range(2, 5):
        buf.set_transform("odom", "base", RigidTransform((k, 0, 0)), k * S)
    with pytest.raises(TransformTooOld) as e:   # kept: 3 s and 4 s (1 s of history)
        buf.lookup("map", "camera", S // 2)
    assert e.value.oldest_ns == 3 * S
    assert not buf.can_transform("map", "camera", 2 * S)
    np.testing.assert_allclose(buf.lookup("map", "base", 7 * S // 2).apply([0, 0, 0]), [13.5, 0, 0], atol=EPS)
    small = TransformBuffer(max_per_link=3)
    for k in range(10):
        small.set_transform("a", "b", RigidTransform((k, 0, 0)), k)
    with pytest.raises(TransformTooOld):
        small.lookup("a", "b", 6)
    assert small.lookup("a", "b", 7).translation[0] == 7.0


def test_unknown_and_disconnected_frames_and_bad_trees():
    buf = _robot_buffer()
    with pytest.raises(FrameNotConnected, match="unknown"):
        buf.lookup("map", "gripper", 0)
    buf.set_transform("world", "other", RigidTransform(), 0, static=True)
    with pytest.raises(FrameNotConnected, match="not connected"):
        buf.lookup("map", "other", 0)
    with pytest.raises(ValueError, match="already has parent"):
        buf.set_transform("map", "base", RigidTransform(), 0)
    with pytest.raises(ValueError, match="loop"):
        buf.set_transform("camera", "map", RigidTransform(), 0)
    with pytest.raises(ValueError, match="static"):
        buf.set_transform("map", "odom", RigidTransform(), 5)


def test_pending_messages_wait_bounded_then_are_dropped_and_counted():
    buf = _robot_buffer(cache_ns=S)
    waiting = PendingTransforms("map", max_wait_ns=100_000_000, max_items=3)
    waiting.push("a", "camera", 3 * S // 2, now_ns=0)     # not yet available
    waiting.push("b", "camera", S // 2, now_ns=0)         # available
    assert [item for item, _ in waiting.poll(buf, now_ns=1)] == ["b"] and len(waiting) == 1
    buf.set_transform("odom", "base", RigidTransform.from_yaw(4, 0, 0, math.pi / 2), 2 * S)
    (item, t), = waiting.poll(buf, now_ns=2)
    # base at (3, 0, 0) turned 90 deg at 1.5 s: the camera 0.5 m ahead of it is at +y
    np.testing.assert_allclose(t.apply([0, 0, 0]), [13, 0.5, 0.2], atol=EPS)
    waiting.push("late", "camera", 5 * S, now_ns=10)
    assert waiting.poll(buf, now_ns=10 + 100_000_000) == [] and len(waiting) == 1   # waited exactly the limit
    assert waiting.poll(buf, now_ns=11 + 100_000_000) == [] and waiting.dropped["timeout"] == 1
    waiting.push("old", "camera", 0, now_ns=20)   # the history now starts at 1 s
    assert waiting.poll(buf, now_ns=21) == [] and waiting.dropped["too_old"] == 1
    for i in range(5):
        waiting.push(i, "camera", 9 * S, now_ns=30)
    assert len(waiting) == 3 and waiting.dropped["overflow"] == 2


def test_camera_view_sees_empty_places_only_through_them():
    pose = RigidTransform()   # camera at the origin of the fixed frame, looking along +z
    depth = np.full((48, 64), 4.0, np.float32)   # a wall 4 m away
    depth[20:28, 28:36] = 1.95                    # an object's front at the image centre
    camera = Pinhole(width=64, height=48, fx=50, fy=50, cx=32, cy=24)
    view = CameraView(pose, camera, max_range=5.0, depth=depth)
    pts = np.array([[0, 0, 2.0],      # centre: a return at its front surface -> still there
                    [1.0, 0, 2.0],    # right of it: the ray hits the wall 4 m away -> empty
                    [0, 0, 4.5],      # behind the wall -> occluded
                    [0, 0, -1.0],     # behind the camera
                    [5.0, 0, 2.0]])   # outside the image (u = 157)
    assert view.in_view(pts).tolist() == [True, True, True, False, False]
    assert view.seen_empty(pts, radii=0.05).tolist() == [False, True, False, False, False]
    no_depth = CameraView(pose, camera)
    assert no_depth.seen_empty(pts).tolist() == [True, True, True, False, False]
    with pytest.raises(ValueError, match="depth image"):
        CameraView(pose, camera, depth=np.zeros((10, 10)))


def test_pinhole_projects_and_back_projects_in_the_optical_convention():
    camera = Pinhole(64, 48, fx=50.0, fy=40.0, cx=31.5, cy=23.5)
    assert np.array_equal(camera.K, [[50, 0, 31.5], [0, 40, 23.5], [0, 0, 1]])
    assert np.array_equal(camera.P[:, :3], camera.K) and not camera.P[:, 3].any()
    pts = np.array([[0.2, -0.1, 2.0], [0.0, 0.0, 1.0], [0.1, 0.1, 0.0], [0.1, 0.1, -1.0]])
    uv = camera.project(pts)
    assert np.allclose(uv[:2], [[36.5, 21.5], [31.5, 23.5]], atol=1e-12)
    assert np.isnan(uv[2:]).all()   # on and behind the image plane
    back = camera.back_project(uv[:2, 0], uv[:2, 1], pts[:2, 2])
    assert np.allclose(back, pts[:2], atol=1e-12)
    assert camera.in_image(np.array([[0, 0], [63.9, 47.9], [64, 0], [0, -0.1], [np.nan, 1]])).tolist() == [
        True, True, False, False, False]
    rays = camera.optical_rays()
    assert rays.shape == (48, 64, 3) and np.allclose(camera.project(rays[5, 7][None]), [[7, 5]], atol=1e-12)


@pytest.mark.parametrize("bad, message", [(dict(width=0), "width/height must be positive integers"),
                                          (dict(height=48.0), "width/height must be positive integers"),
                                          (dict(fx=0.0), "fx must be a positive"),
                                          (dict(fy=float("nan")), "fy must be a positive"),
                                          (dict(cx=float("inf")), "cx must be finite")])
def test_pinhole_refuses_bad_intrinsics(bad, message):
    good = dict(width=64, height=48, fx=50.0, fy=50.0, cx=32.0, cy=24.0)
    Pinhole(**good)
    with pytest.raises(ValueError, match=message):
        Pinhole(**(good | bad))
    with pytest.raises(ValueError, match="camera must be a Pinhole"):
        CameraView(RigidTransform(), (64, 48, 50.0, 50.0, 32.0, 24.0))
