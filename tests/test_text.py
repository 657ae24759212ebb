"""Normalization rules and jieba tokenization with the domain dictionary."""

from classifier.text import normalize, tokenize


def test_full_width_letters_digits_and_punctuation_become_half_width():
    assert normalize("３栋２单元５０２，ＡＢＣ") == "3栋2单元502,abc"


def test_building_and_room_numbers_are_kept():
    assert "12-3-502" in normalize("12-3-502的楼道灯不亮")


def test_mention_followed_by_wechat_separator_is_dropped():
    assert normalize("@网格员小李\u2005路灯坏了") == "路灯坏了"


def test_mention_at_the_end_is_dropped():
    assert normalize("路灯坏了 @物业王经理") == "路灯坏了"


def test_a_message_that_is_only_a_glued_mention_keeps_its_words():
    assert normalize("@网格员小李路灯坏了") == "网格员小李路灯坏了"


def test_quoted_reply_header_and_quote_are_dropped():
    text = "「张三：明天停水吗」\n- - - - - - - - - - - - - - -\n我们这都停了一天了"
    assert normalize(text) == "我们这都停了一天了"


def test_wechat_emoticon_codes_are_dropped_but_brackets_with_digits_stay():
    assert normalize("电梯又坏了[捂脸][抓狂]") == "电梯又坏了"
    assert normalize("[Facepalm]没水了") == "没水了"
    assert normalize("第[3]次") == "第[3]次"


def test_links_are_dropped():
    assert normalize("看这个https://mp.weixin.qq.com/s/abc?x=1 路灯") == "看这个 路灯"
    assert normalize("www.example.com路面塌了") == "路面塌了"


def test_control_characters_and_whitespace_runs_are_cleaned():
    assert normalize("路灯\u0000坏了\n\n\t  三天") == "路灯坏了 三天"


def test_non_text_normalizes_to_empty():
    assert normalize(None) == ""
    assert normalize(12) == ""


def test_user_dictionary_keeps_domain_words_whole():
    tokens = tokenize(normalize("楼下有人飞线充电，还迁房的不动产权证还冇得办下来"))
    for word in ("飞线充电", "还迁房", "不动产权证", "冇得"):
        assert word in tokens


def test_numbers_become_one_token_and_punctuation_is_dropped():
    tokens = tokenize(normalize("12-3-502，灯坏了！"))
    assert tokens[0] == "0" and tokens.count("0") == 1
    assert "，" not in tokens and "!" not in tokens
