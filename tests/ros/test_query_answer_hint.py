"""codebind-query's answer when the memory has no objects says what objects need."""
from codebind_ros.srv import QueryText
from codebind_ros.tools.answer_format import format_answer


def test_zero_objects_explains_the_localisation_node_and_observations():
    empty = QueryText.Response(success=True, message="0 of 0 objects in 'map'")
    text = format_answer("a red mug", empty)
    assert "codebind-localisation" in text and "pose" in text and "--observations" in text
    assert "localisation" not in format_answer("a red mug", empty, observations=True)
    some = QueryText.Response(success=True, message="0 of 4 objects in 'map'")  # objects exist, none match
    assert "localisation" not in format_answer("a red mug", some)
