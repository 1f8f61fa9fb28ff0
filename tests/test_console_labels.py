"""Labels are never cut inside a word: a question shown whole on the console's charts (broken
between words onto more lines), and a chat button's label shortened only at a word boundary."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from conversations.messages import short_label
from handlers.console import charts

QUESTION = "Anh/chị cho biết sản phẩm được làm từ nguyên liệu chính nào và lấy ở đâu (tự trồng, thu mua)?"


def test_a_long_question_on_a_chart_keeps_every_word_whole_on_its_lines() -> None:
    svg = charts.bars([(QUESTION, 12.0), ("Tên sản phẩm", 3.0)])
    first = svg.split('class="label">', 1)[1].split("</text>", 1)[0]
    lines = re.findall(r"<tspan[^>]*>([^<]*)</tspan>", first)
    assert len(lines) >= 2 and all(len(line) <= charts.LINE_CHARS for line in lines)
    assert " ".join(lines) == QUESTION.replace("&", "&amp;")
    # its bar sits below the label's last line, and the next row below that bar
    rects = [float(y) for y in re.findall(r'<rect x="0" y="([\d.]+)"', svg)]
    last_line = 4 + 14 + charts.LINE * (len(lines) - 1)
    assert rects[0] > last_line and rects[1] - rects[0] == charts.ROW


@given(st.lists(st.text(alphabet="abcdđươngặ", min_size=1, max_size=14), min_size=1, max_size=20))
def test_a_shortened_button_label_ends_between_words(words: list[str]) -> None:
    text = " ".join(words)
    label = short_label(text, 30)
    assert len(label) <= 30
    if label != text:
        kept = label.removesuffix("…").split()
        assert kept == words[: len(kept)] or len(words[0]) >= 30  # only a first word too long is cut
