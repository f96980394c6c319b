"""The object memory's decisions as pure functions (codebind_core.memory.objects.association):
numbers in, decisions out, no SQLite. Each rule is checked on inputs that pass it and on inputs
that just miss it."""
import numpy as np
import pytest

from codebind_core.memory.objects import association as assoc
from codebind_core.memory.objects.config import ObjectConfig

S = 10 ** 9
CFG = ObjectConfig(fixed_frame="map", gate_distance=0.3, min_similarity=0.5, reid_similarity=0.8,
                   reid_min_age_ns=2 * S, moved_similarity=0.6, miss_limit=3, huber_delta=0.05,
                   max_fusion_weight=50.0)


def test_gate_keeps_pairs_at_or_above_min_similarity():
    pairs = assoc.gated_pairs(4, np.array([10, 11, 12]), np.array([0.5, 0.49999, 0.9]), 0.5)
    assert pairs == [(0.5, 4, 10), (0.9, 4, 12)]


def test_greedy_assignment_takes_the_best_cosine_first_and_each_side_once():
    # proposal 0 likes objects 7 (0.9) and 8 (0.8); proposal 1 likes 7 (0.95): 1 gets 7, 0 falls back to 8
    assert assoc.greedy_assign([(0.9, 0, 7), (0.8, 0, 8), (0.95, 1, 7)]) == {1: 7, 0: 8}
    # one object, two proposals: only the better one joins it
    assert assoc.greedy_assign([(0.7, 0, 3), (0.71, 1, 3)]) == {1: 3}
    # ties go to the lower proposal index, then the lower object id
    assert assoc.greedy_assign([(0.6, 1, 5), (0.6, 0, 5), (0.6, 0, 4)]) == {0: 4, 1: 5}
    assert assoc.greedy_assign([]) == {}


def _reid(scores, ids, missing, last_seen, taken=(), stamp=10 * S):
    return assoc.reidentify(np.array(scores), np.array(ids), np.array(missing, bool), np.array(last_seen, np.int64),
                            taken, stamp, CFG)


def test_a_missing_object_is_reidentified_as_the_best_match_above_moved_similarity():
    assert _reid([0.6, 0.5], [1, 2], [True, False], [9 * S, 9 * S]) == 1
    assert _reid([0.5999, 0.5], [1, 2], [True, False], [9 * S, 9 * S]) is None  # below moved_similarity
    assert _reid([0.7, 0.6], [1, 2], [False, True], [9 * S, 9 * S]) is None     # the missing one is not the best
    assert _reid([0.9, 0.7], [1, 2], [False, True], [9 * S, 9 * S], taken={1}) == 2  # the best was joined already


def test_an_object_unseen_long_enough_is_reidentified_above_reid_similarity():
    assert _reid([0.85], [3], [False], [10 * S - 2 * S]) == 3          # unseen for exactly reid_min_age
    assert _reid([0.85], [3], [False], [10 * S - 2 * S + 1]) is None   # seen 1 ns too recently
    assert _reid([0.79], [3], [False], [0]) is None                    # below reid_similarity
    # a later candidate counts while scores stay above reid_similarity
    assert _reid([0.95, 0.85], [3, 4], [False, False], [10 * S, 0]) == 4
    assert _reid([0.95, 0.75, 0.74], [3, 4, 5], [False, True, True], [10 * S, 0, 0]) is None


def test_late_reidentification_picks_the_strongest_object_whose_best_match_is_the_missed_one():
    cands = [(20, [(1.0, 20), (0.7, 9)]),   # best other match: 9 at 0.7
             (21, [(0.65, 9), (0.5, 3)]),   # 9 at 0.65
             (22, [(1.0, 22), (0.9, 3)])]   # best other match is 3, not 9
    assert assoc.reappeared(9, cands, 0.6) == 20
    assert assoc.reappeared(9, cands, 0.71) is None
    assert assoc.reappeared(3, cands, 0.6) == 22
    assert assoc.reappeared(9, [(20, [(1.0, 20)])], 0.1) is None  # no match but itself


def test_huber_weights_and_position_fusion():
    assert assoc.huber_weight(0.05, 0.05) == 1.0 and assoc.huber_weight(0.2, 0.05) == pytest.approx(0.25)
    # a view 4 cm away (weight 1) moves an object of weight 1 half-way
    pos, ext, w = assoc.fuse_geometry((0.0, 0.0, 0.0), (0.1, 0.1, 0.1), 1.0, (0.04, 0.0, 0.0), (0.3, 0.1, 0.1), CFG)
    assert pos == pytest.approx((0.02, 0.0, 0.0)) and ext == pytest.approx((0.2, 0.1, 0.1)) and w == 2.0
    # a stray view 1 m away weighs 0.05: it moves an object of weight 3 by 1 * 0.05 / 3.05
    pos, ext, w = assoc.fuse_geometry((0.0, 0.0, 0.0), (0.1, 0.1, 0.1), 3.0, (1.0, 0.0, 0.0), None, CFG)
    assert pos[0] == pytest.approx(0.05 / 3.05) and ext == (0.1, 0.1, 0.1) and w == pytest.approx(3.05)
    # the accumulated weight is capped
    assert assoc.fuse_geometry((0, 0, 0), (0, 0, 0), 50.0, (0, 0, 0), None, CFG)[2] == 50.0


def test_embedding_mean_weighs_views_up_to_the_cap():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    f = assoc.mean_embedding(a, 3, b, 1, cap=50.0)
    np.testing.assert_allclose(f, np.array([3.0, 1.0]) / np.sqrt(10.0), rtol=1e-6)
    f = assoc.mean_embedding(a, 1000, b, 1, cap=50.0)   # 1000 views count as 50
    np.testing.assert_allclose(f, np.array([50.0, 1.0]) / np.sqrt(2501.0), rtol=1e-6)
    assert float(np.linalg.norm(assoc.mean_embedding(a, 1, -a, 1, cap=50.0))) == 0.0  # opposite views cancel


def test_the_miss_limit_makes_an_object_gone():
    assert assoc.after_miss(0, 3) == (1, False)
    assert assoc.after_miss(1, 3) == (2, False)
    assert assoc.after_miss(2, 3) == (3, True)


def test_eviction_takes_gone_objects_first_then_the_least_recently_seen():
    ids = np.array([1, 2, 3, 4, 5])
    gone = np.array([False, True, False, True, False])
    last = np.array([50, 90, 10, 20, 10])
    assert assoc.eviction_order(ids, gone, last, 3).tolist() == [4, 2, 3]
    assert assoc.eviction_order(ids, gone, last, 0).tolist() == [] == assoc.eviction_order(ids, gone, last, -2).tolist()


def test_nearest_within_a_radius():
    centres = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.25, 0.0]])
    assert assoc.nearest_within(centres, np.array([5, 6, 7]), (0.0, 0.3, 0.0), 0.3) == (pytest.approx(0.05), 7)
    assert assoc.nearest_within(centres, np.array([5, 6, 7]), (0.5, 0.5, 0.0), 0.3) is None
    assert assoc.nearest_within(np.zeros((0, 3)), np.zeros(0, np.int64), (0.0, 0.0, 0.0), 1.0) is None
