"""Engagement totals carried from one server process to the next (a restart mid-class)."""

from __future__ import annotations

import json

from engagement.activity import ActivityTracker


def test_a_restarted_class_goes_on_counting_from_the_previous_totals() -> None:
    before = ActivityTracker()
    before.polls_asked = 2
    sam = before.activity("sam", "Sam", "student")
    sam.camera.set(True, 100.0)  # still on when the process dies at 160
    sam.messages, sam.hands, sam.reactions = 3, 1, 2
    sam.polls_answered, sam.polls_correct = {"poll_1", "poll_2"}, {"poll_2"}
    # Through JSON, as live.json carries it.
    carried = json.loads(json.dumps(before.totals(160.0, {"sam": 12.5}, {"sam": 4})))

    after = ActivityTracker()
    talk_time, turns = after.carry_over(carried)
    assert (talk_time, turns) == ({"sam": 12.5}, {"sam": 4})
    sam = after.participants["sam"]
    assert not sam.camera.on  # until its camera is published again
    sam.camera.set(True, 200.0)
    snapshot = after.snapshot("sam", present_s=90.0, talk_time=talk_time, turns=4, now=230.0)
    assert snapshot["camera_on_s"] == 90.0  # 60 s before the restart, 30 after
    assert (snapshot["messages"], snapshot["hands"], snapshot["reactions"]) == (3, 1, 2)
    assert (snapshot["polls_answered"], snapshot["polls_correct"]) == (2, 1)
    assert after.polls_asked == 2
