"""Object memory: multi-view association in the fixed frame, moved / gone objects, thresholded
queries, export round trip, bounds and bad input (real SQLite files, no mocks)."""
import math

import numpy as np
import pytest

from codebind_core.geometry import CameraView, Pinhole, RigidTransform, TransformBuffer
from codebind_core.memory import (CodebookSet, MemoryObject, ObjectConfig, ObjectMemory, ObjectProposal,
                                  Observation, read_object_map)

S = 10 ** 9
K, D_SUB, M = 256, 8, 16          # D = 128
NOISE_EMB = 0.03                  # per-dim embedding noise of a view: cosine ~0.95 to its prototype
NOISE_POS = 0.02                  # m, per axis, in the camera frame
# Objects on two tables (fixed frame "map"); 0 and 1 are 0.15 m apart, inside the 0.3 m gate.
TRUTH = np.array([[-0.30, 0.00, 0.80], [-0.15, 0.00, 0.80], [0.35, 0.20, 0.85],
                  [0.00, 1.40, 0.75], [0.40, 1.60, 0.80], [-0.40, 1.50, 0.90]])
LABELS = ["red mug", "blue mug", "banana", "drill", "ball", "bowl"]
CENTRE = np.array([0.0, 0.75, 0.8])
FX = FY = 300.0
W, H = 640, 480
CAMERA = Pinhole(W, H, FX, FY, W / 2, H / 2)
CAM_IN_BASE = RigidTransform((0.1, 0.0, 0.5))  # static extrinsic base <- camera optical


def _config(**kw):
    base = dict(fixed_frame="map", min_similarity=0.4, reid_similarity=0.6, reid_min_age_ns=2 * S, miss_limit=3)
    base.update(kw)
    return ObjectConfig(**base)


@pytest.fixture
def books():
    rng = np.random.default_rng(7)
    b = rng.standard_normal((K, D_SUB)).astype(np.float32)
    return CodebookSet({"pointcloud": b / np.linalg.norm(b, axis=1, keepdims=True)})


@pytest.fixture
def protos():
    p = np.random.default_rng(8).standard_normal((len(TRUTH), M * D_SUB))
    return p / np.linalg.norm(p, axis=1, keepdims=True)


def _look_at(eye, target) -> RigidTransform:
    """map <- camera optical frame (z forward, x right, y down) at ``eye`` looking at ``target``."""
    z = np.asarray(target, float) - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, [0.0, 0.0, 1.0])
    x /= np.linalg.norm(x)
    m = np.eye(4)
    m[:3, :3] = np.stack([x, np.cross(z, x), z], axis=1)
    m[:3, 3] = eye
    return RigidTransform.from_matrix(m)


def _poses(n=8, radius=2.6):
    return [_look_at(CENTRE + [radius * math.cos(a), radius * math.sin(a), 0.6], CENTRE)
            for a in np.linspace(0, 2 * math.pi, n, endpoint=False)]


def _frame(rng, protos, cam: RigidTransform, stamp, buf: TransformBuffer, truth=TRUTH, outlier=None):
    """Proposals of the objects in view, measured in the camera frame with noise, put in the map
    frame through the transform buffer (map <- odom <- base <- camera)."""
    buf.set_transform("odom", "base", RigidTransform((0, 0, 0.05)).inverse() * cam * CAM_IN_BASE.inverse(), stamp)
    view = CameraView(cam, CAMERA, max_range=6.0)
    props = []
    for i in np.flatnonzero(view.in_view(truth)):
        p_cam = cam.inverse().apply(truth[i]) + rng.normal(0, NOISE_POS, 3)
        if outlier is not None and i == outlier:
            p_cam = p_cam + [0.0, 0.0, 0.2]   # a bad depth reading: 0.2 m too far
        emb = protos[i] + NOISE_EMB * rng.standard_normal(protos.shape[1])
        p = ObjectProposal("pointcloud", stamp, tuple(p_cam), embedding=emb, size=(0.1, 0.1, 0.12),
                           label=LABELS[i], frame_id="camera")
        props.append(p.transformed(buf.lookup("map", "camera", stamp), "map"))
    return props


def _buffer():
    buf = TransformBuffer(cache_ns=3600 * S)
    buf.set_transform("map", "odom", RigidTransform((0, 0, 0.05)), 0, static=True)
    buf.set_transform("base", "camera", CAM_IN_BASE, 0, static=True)
    return buf


def _map_scene(mem, protos, passes=2, seed=0):
    rng = np.random.default_rng(seed)
    buf = _buffer()
    stamp, ids = S, []
    for k in range(passes):
        for j, cam in enumerate(_poses()):
            outlier = j % len(TRUTH) if k == 0 else None
            res = mem.observe(_frame(rng, protos, cam, stamp, buf, outlier=outlier))
            ids.append(res.object_ids)
            stamp += S // 10
    return stamp, ids


def _by_label(mem):
    return {o.label: o for o in mem.objects()}


def test_multi_view_sequence_gives_one_object_per_thing_within_5cm(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config()) as mem:
        _map_scene(mem, protos)
        objs = _by_label(mem)
        assert len(mem) == len(TRUTH) and sorted(objs) == sorted(LABELS)
        for i, lab in enumerate(LABELS):
            err = np.linalg.norm(np.asarray(objs[lab].position) - TRUTH[i])
            assert err < 0.05, (lab, err)
            assert objs[lab].views == 16 and objs[lab].modalities == ("camera",)
            assert objs[lab].first_seen_ns == S and objs[lab].last_seen_ns == S + 15 * S // 10
        # each category's query returns its object first, and only it within a 0.2 margin
        for i, lab in enumerate(LABELS):
            hits = mem.query({"pointcloud": protos[i]}, top_k=5, margin=0.2)
            assert [h.object.label for h in hits] == [lab] and hits[0].score > 0.6


def test_threshold_keeps_irrelevant_hits_out(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config()) as mem:
        _map_scene(mem, protos, passes=1)
        rng = np.random.default_rng(3)
        # an unrelated query: cosines with the objects are ~N(0, 1/sqrt(128) = 0.088); 0.45 is 5 sigma
        for _ in range(5):
            q = rng.standard_normal(M * D_SUB)
            assert len(mem.query({"pointcloud": q}, top_k=10)) == 6
            assert mem.query({"pointcloud": q}, top_k=10, min_score=0.45) == []
        hits = mem.query({"pointcloud": protos[2]}, top_k=10, min_score=0.45)
        assert [h.object.label for h in hits] == ["banana"]
        with pytest.raises(ValueError, match="margin"):
            mem.query({"pointcloud": protos[2]}, margin=-1)


def _empty_view(cam: RigidTransform, wall=5.5):
    """A depth image of nothing but a far wall: every place in front of it is seen empty."""
    return CameraView(cam, CAMERA, max_range=6.0, depth=np.full((H, W), wall, np.float32))


def test_moved_object_is_updated_at_its_new_place_not_duplicated(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config()) as mem:
        stamp, _ = _map_scene(mem, protos)
        mug = _by_label(mem)["red mug"]
        old = np.asarray(mug.position)
        moved_truth = TRUTH.copy()
        moved_truth[0] = [1.5, -0.8, 0.8]
        rng = np.random.default_rng(5)
        buf = _buffer()
        cam = _poses()[0]
        # the mug's old place is seen empty 3 times (the other objects are re-observed)
        for _ in range(3):
            stamp += S // 10
            props = [p for p in _frame(rng, protos, cam, stamp, buf, truth=moved_truth) if p.label != "red mug"]
            depth = np.full((H, W), 5.5, np.float32)
            res = mem.observe(props, stamp_ns=stamp, view=CameraView(cam, CAMERA, max_range=6.0,
                                                                     depth=depth))
            assert res.missed == [mug.id]
        assert res.gone == [mug.id] and mem.get(mug.id).status == "gone"
        assert "red mug" not in [h.object.label for h in mem.query({"pointcloud": protos[0]}, min_score=0.45)]
        # then it is seen at its new place: the same object, moved there
        for _ in range(3):
            stamp += S // 10
            props = [p for p in _frame(rng, protos, _look_at(np.array([1.5, -3.0, 1.4]), moved_truth[0]), stamp, buf,
                                       truth=moved_truth) if p.label == "red mug"]
            res = mem.observe(props)
        assert len(mem) == len(TRUTH)
        got = mem.get(mug.id)
        assert got.status == "present" and got.moves == 1 and got.views == mug.views + 3
        assert np.linalg.norm(np.asarray(got.position) - moved_truth[0]) < 0.05
        np.testing.assert_allclose(got.previous_position, old)
        hits = mem.query({"pointcloud": protos[0]}, min_score=0.45)
        assert [h.object.id for h in hits] == [mug.id]
        assert np.linalg.norm(np.asarray(hits[0].object.position) - old) > 1.0


def test_seen_elsewhere_first_after_a_while_is_a_move_and_look_alikes_together_stay_two(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config()) as mem:
        stamp, _ = _map_scene(mem, protos, passes=1)
        bowl = _by_label(mem)["bowl"]
        emb = protos[5] + NOISE_EMB * np.random.default_rng(9).standard_normal(protos.shape[1])
        # 1 s after it was last seen: too soon to be the same bowl elsewhere -> a second bowl
        soon = stamp + S
        res = mem.observe([ObjectProposal("pointcloud", soon, (3.0, 3.0, 0.8), embedding=emb, label="bowl")])
        assert res.created and res.moved == [] and len(mem) == 7
        # 2.5 s after: the first bowl (unseen for 2.6 s) moved; the second one was seen 1.5 s ago
        later = stamp + 5 * S // 2
        res = mem.observe([ObjectProposal("pointcloud", later, (-2.0, -2.0, 0.8), embedding=emb, label="bowl")])
        assert res.moved == [bowl.id] and len(mem) == 7
        assert mem.get(bowl.id).position == (-2.0, -2.0, 0.8)
        # two look-alikes in one frame, both far from everything: two objects, not one moved twice
        res = mem.observe([ObjectProposal("pointcloud", later + 5 * S, (9.0, 0.0, 0.8), embedding=protos[3]),
                           ObjectProposal("pointcloud", later + 5 * S, (9.0, 2.0, 0.8), embedding=protos[3])])
        assert len(set(res.object_ids)) == 2


def _changed_view(proto, cos, seed):
    """An embedding at cosine ``cos`` to ``proto``: the same object seen so differently (another
    side, other light) that it is below ``reid_similarity`` but above ``moved_similarity``."""
    u = np.random.default_rng(seed).standard_normal(proto.size)
    u -= (u @ proto) * proto
    return cos * proto + math.sqrt(1 - cos * cos) * u / np.linalg.norm(u)


def _score(mem, vec, obj_id):
    return next(h.score for h in mem.query({"pointcloud": vec}, top_k=10, include_gone=True) if h.object.id == obj_id)


def test_a_missing_object_seen_elsewhere_in_the_same_frame_is_moved_not_duplicated(tmp_path, books, protos):
    new_place = (3.0, -1.0, 0.8)
    for missing in (False, True):
        with ObjectMemory.open(tmp_path / f"m{missing}.db", books, object_config=_config()) as mem:
            stamp, _ = _map_scene(mem, protos)
            mug = _by_label(mem)["red mug"]
            v = _changed_view(protos[0], 0.72, 3)
            score = _score(mem, v, mug.id)
            assert mem.config.moved_similarity <= score < mem.config.reid_similarity, score  # the case meant
            res = mem.observe([ObjectProposal("pointcloud", stamp, new_place, embedding=v, label="red mug")],
                              not_seen=[mug.id] if missing else [])
            if not missing:  # its place not seen empty, last seen 0.1 s ago: another mug
                assert res.created and res.moved == [] and len(mem) == len(TRUTH) + 1
                continue
            assert res.moved == [mug.id] and res.created == [] and res.missed == [] and len(mem) == len(TRUTH)
            got = mem.get(mug.id)
            assert got.position == new_place and got.moves == 1 and got.status == "present"
            np.testing.assert_allclose(got.previous_position, mug.position)


def test_seen_elsewhere_before_its_place_is_seen_empty_merges_into_the_old_object(tmp_path, books, protos):
    new_place = (3.0, -1.0, 0.8)
    db = tmp_path / "m.db"
    with ObjectMemory.open(db, books, object_config=_config()) as mem:
        stamp, _ = _map_scene(mem, protos)
        mug, blue = _by_label(mem)["red mug"], _by_label(mem)["blue mug"]
        # the mug at its new place, seen differently, before its old place is looked at: a new object
        res = mem.observe([ObjectProposal("pointcloud", stamp, new_place, embedding=_changed_view(protos[0], 0.72, 3),
                                          label="red mug")])
        (young,) = res.created
        # a look-alike of the blue mug (which is still where it was) appears elsewhere too
        res = mem.observe([ObjectProposal("pointcloud", stamp + 1, (-3.0, 2.0, 0.8), embedding=protos[1])])
        (twin,) = res.created
        assert len(mem) == len(TRUTH) + 2
        # now the red mug's old place is seen empty: the young object was the red mug, moved
        res = mem.observe([], stamp_ns=stamp + 2, not_seen=[mug.id])
        assert res.merged == {young: mug.id} and res.moved == [mug.id] and res.missed == []
        got = mem.get(mug.id)
        assert mem.get(young) is None and len(mem) == len(TRUTH) + 1
        assert got.position == new_place and got.moves == 1 and got.views == mug.views + 1
        assert got.last_seen_ns == stamp and got.first_seen_ns == mug.first_seen_ns
        np.testing.assert_allclose(got.previous_position, mug.position)
        assert mem.get(twin) is not None and mem.get(blue.id).moves == 0  # its best match is present
        hits = mem.query({"pointcloud": protos[0]}, top_k=1)
        assert hits[0].object.id == mug.id and hits[0].object.position == new_place
        assert mem.resolve(young) == mug.id and mem.resolve(twin) == twin and mem.resolve(10 ** 6) is None
    with ObjectMemory.open(db, books, object_config=_config()) as mem:  # committed as one change
        assert mem.get(young) is None and mem.get(mug.id).position == new_place and len(mem) == len(TRUTH) + 1
        assert mem.resolve(young) == mug.id  # an id a client kept still finds the object


def test_gone_after_n_misses_and_back_when_seen_again(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config(miss_limit=3)) as mem:
        stamp, _ = _map_scene(mem, protos, passes=1)
        ball = _by_label(mem)["ball"]
        for k in range(1, 4):
            res = mem.observe([], stamp_ns=stamp + k, not_seen=[ball.id])
            assert mem.get(ball.id).misses == k
            assert mem.get(ball.id).status == ("gone" if k == 3 else "present")
        assert res.gone == [ball.id]
        assert ball.id not in [h.object.id for h in mem.query({"pointcloud": protos[4]}, top_k=10)]
        assert ball.id in [h.object.id for h in mem.query({"pointcloud": protos[4]}, top_k=10, include_gone=True)]
        # seen again at its place: present, misses reset, no new object
        res = mem.observe([ObjectProposal("pointcloud", stamp + 10, tuple(TRUTH[4]), embedding=protos[4])])
        assert res.object_ids == [ball.id] and mem.get(ball.id).status == "present" and mem.get(ball.id).misses == 0
        # an occluded or out-of-view place is not a miss: a view from behind the wall sees nothing
        behind = _look_at(np.array([0.0, 8.0, 0.8]), np.array([0.0, 12.0, 0.8]))
        assert mem.observe([], stamp_ns=stamp + 20, view=_empty_view(behind)).missed == []
        with pytest.raises(ValueError, match="unknown object ids"):
            mem.observe([], stamp_ns=stamp + 30, not_seen=[999])


def test_sound_and_touch_attach_to_the_nearest_object(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config(attach_radius=0.1)) as mem:
        stamp, _ = _map_scene(mem, protos, passes=1)
        drill = _by_label(mem)["drill"]
        assert mem.attach("audio", stamp + 1, position=TRUTH[3] + [0.03, 0, 0]) == drill.id
        assert mem.attach("tactile", stamp + 2, object_id=drill.id) == drill.id
        assert mem.get(drill.id).modalities == ("camera", "audio", "tactile")
        assert mem.get(drill.id).last_seen_ns == stamp + 2
        assert mem.attach("audio", stamp + 3, position=(5.0, 5.0, 0.0)) is None and mem.unattached == 1
        with pytest.raises(ValueError, match="exactly one"):
            mem.attach("audio", stamp, position=(0, 0, 0), object_id=drill.id)


def test_objects_and_observations_survive_reopening(tmp_path, books, protos):
    db = tmp_path / "m.db"
    with ObjectMemory.open(db, books, object_config=_config()) as mem:
        _map_scene(mem, protos, passes=1)
        mem.observations.add([Observation("audio", "pointcloud", np.arange(M), 5, "map")])
        before = mem.objects()
        scores = [h.score for h in mem.query({"pointcloud": protos[1]})]
    with ObjectMemory.open(db, books, object_config=_config()) as mem:
        after = mem.objects()
        assert [o.to_dict() for o in after] == [o.to_dict() for o in before]
        np.testing.assert_allclose([h.score for h in mem.query({"pointcloud": protos[1]})], scores, atol=1e-6)
        assert len(mem.observations) == 1   # raw observations are queryable as before
    with pytest.raises(ValueError, match="frame 'map', not 'odom'"):
        ObjectMemory.open(db, books, object_config=_config(fixed_frame="odom"))


def test_export_json_and_ply_round_trip(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config()) as mem:
        _map_scene(mem, protos, passes=1)
        mem.observe([], stamp_ns=10 * S, not_seen=[1, 1])   # one miss, still present
        objs = mem.objects()
        mem.export_json(tmp_path / "map.json")
        mem.export_ply(tmp_path / "map.ply")
        scores = [(h.object.label, h.score) for h in mem.query({"pointcloud": protos[3]}, top_k=6)]
    read = read_object_map(tmp_path / "map.json")
    assert read.frame == "map" and read.codebooks_fingerprint == books.fingerprint()
    assert [o.to_dict() for o in read.objects] == [o.to_dict() for o in objs]
    with ObjectMemory.open(tmp_path / "other.db", books, object_config=_config()) as fresh:
        assert len(fresh.import_map(tmp_path / "map.json")) == 6
        again = [(h.object.label, h.score) for h in fresh.query({"pointcloud": protos[3]}, top_k=6)]
        assert [a for a, _ in again] == [a for a, _ in scores]
        np.testing.assert_allclose([s for _, s in again], [s for _, s in scores], atol=1e-6)
    # the PLY: a plain ASCII point cloud of the centres, labels as byte lists
    text = (tmp_path / "map.ply").read_text().splitlines()
    end = text.index("end_header")
    assert "element vertex 6" in text and len(text) == end + 7
    for o, line in zip(objs, text[end + 1:]):
        v = line.split()
        np.testing.assert_allclose([float(x) for x in v[:3]], o.position, atol=1e-6)
        assert int(v[9]) == o.id and bytes(int(b) for b in v[11:]).decode() == o.label == LABELS[o.id - 1]
    with pytest.raises(ValueError, match="not a codebind-object-map"):
        (tmp_path / "bad.json").write_text('{"objects": []}')
        read_object_map(tmp_path / "bad.json")


def test_max_objects_evicts_gone_first_and_counts(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config(max_objects=6)) as mem:
        stamp, _ = _map_scene(mem, protos, passes=1)
        gone = _by_label(mem)["banana"].id
        for k in range(3):
            mem.observe([], stamp_ns=stamp + k, not_seen=[gone])
        oldest = min((o for o in mem.objects() if o.id != gone), key=lambda o: (o.last_seen_ns, o.id)).id
        rng = np.random.default_rng(4)
        res = mem.observe([ObjectProposal("pointcloud", stamp + 10, (5.0, float(j), 0.8),
                                          embedding=rng.standard_normal(M * D_SUB)) for j in range(2)])
        assert res.evicted == [gone, oldest] and mem.evicted == 2 and len(mem) == 6
        assert mem.get(gone) is None and mem.get(oldest) is None
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config(max_objects=6)) as mem:
        assert len(mem) == 6 and mem.get(gone) is None


def test_bad_input_is_refused_with_a_clear_error(tmp_path, books, protos):
    with ObjectMemory.open(tmp_path / "m.db", books, object_config=_config()) as mem:
        ok = dict(codebook_set="pointcloud", stamp_ns=1, position=(0.0, 0.0, 0.0), embedding=protos[0])
        with pytest.raises(ValueError, match="frame 'camera'"):
            mem.observe([ObjectProposal(**ok, frame_id="camera")])
        with pytest.raises(ValueError, match="exactly one of codes or embedding"):
            mem.observe([ObjectProposal(**ok, codes=np.zeros(M, int))])
        with pytest.raises(ValueError, match="NaN"):
            mem.observe([ObjectProposal(**{**ok, "position": (0.0, float("nan"), 0.0)})])
        with pytest.raises(ValueError, match="codes per embedding|must be in"):
            mem.observe([ObjectProposal("pointcloud", 1, (0, 0, 0), codes=np.full(M, K))])
        with pytest.raises(ValueError, match="unknown codebook set"):
            mem.observe([ObjectProposal(**{**ok, "codebook_set": "thermal"})])
        with pytest.raises(ValueError, match="needs stamp_ns"):
            mem.observe([])
        assert len(mem) == 0
        with pytest.raises(ValueError, match="lacks field 'codes'"):
            MemoryObject.from_dict({"id": 1, "codebook_set": "pointcloud", "position": [0, 0, 0]})
    with pytest.raises(ValueError, match="reid_similarity"):
        ObjectConfig(min_similarity=0.9, reid_similarity=0.5)
