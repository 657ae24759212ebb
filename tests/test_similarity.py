"""Which reports are the same problem: the merge rule's text part."""

from bot.similarity import place_numbers, similar

LIGHT = "3栋2单元楼道的灯坏了一个多星期了，晚上上楼黑漆漆的，老人摔了一跤，麻烦尽快派人来修"


def test_the_same_light_described_differently_is_the_same_problem():
    assert similar(LIGHT, "3栋2单元楼道灯到现在还没人修，黑漆漆的上楼好危险", 0.4)


def test_a_light_in_another_building_is_another_problem():
    assert not similar("3栋楼道灯坏了", "5栋楼道灯坏了", 0.4)
    assert not similar("12-3-502门口的灯坏了", "12-4-502门口的灯坏了", 0.4)


def test_unrelated_text_is_not_similar():
    assert not similar(LIGHT, "小区门口垃圾桶三天没人清了", 0.4)


def test_place_numbers_ignore_durations():
    assert place_numbers("３栋２单元的灯坏了3天了") == {"3", "2"}
