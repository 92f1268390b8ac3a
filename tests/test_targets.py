"""Class names as widgets show them."""
from xai_widgets.core.targets import class_label


def test_class_label_uses_names_in_range_and_numbers_otherwise():
    assert class_label(["cat", "dog"], 1) == "dog"
    assert class_label(["cat", "dog"], 2) == "class 2"
    assert class_label(None, 0) == "class 0"
    assert class_label([], 3) == "class 3"
