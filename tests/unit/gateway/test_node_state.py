from siaga.gateway.node_state import WINDOW, NodeState, NodeTable, SeqVerdict


def feed(state: NodeState, *seqs: int, hello: bool = False) -> list[tuple[SeqVerdict, int]]:
    out = []
    for s in seqs:
        r = state.observe_seq(s, hello)
        out.append((r.verdict, r.missing))
    return out


def test_first_then_consecutive_has_no_gap() -> None:
    s = NodeState("n1")
    assert feed(s, 5, 6, 7) == [(SeqVerdict.FIRST, 0), (SeqVerdict.NEXT, 0), (SeqVerdict.NEXT, 0)]
    assert s.last_seq == 7


def test_gap_counts_missing_frames() -> None:
    s = NodeState("n1")
    feed(s, 10)
    r = s.observe_seq(14, False)
    assert r.verdict is SeqVerdict.NEXT and r.missing == 3


def test_wrap_at_65535_is_not_a_gap_nor_reboot() -> None:
    s = NodeState("n1")
    assert feed(s, 65534, 65535, 0, 1)[1:] == [(SeqVerdict.NEXT, 0)] * 3


def test_gap_across_wrap() -> None:
    s = NodeState("n1")
    feed(s, 65533)
    r = s.observe_seq(2, False)
    assert (r.verdict, r.missing) == (SeqVerdict.NEXT, 4)


def test_same_seq_repeated_is_duplicate_and_dropped() -> None:
    s = NodeState("n1")
    feed(s, 3, 4)
    r = s.observe_seq(4, False)
    assert r.verdict is SeqVerdict.DUPLICATE and not r.accepted
    assert s.last_seq == 4


def test_recent_seen_seq_is_duplicate() -> None:
    s = NodeState("n1")
    feed(s, 100, 101, 102)
    assert s.observe_seq(101, False).verdict is SeqVerdict.DUPLICATE
    assert s.observe_seq(100, False).verdict is SeqVerdict.DUPLICATE
    assert s.observe_seq(103, False).missing == 0


def test_late_frame_is_accepted_once_and_gives_back_its_gap() -> None:
    s = NodeState("n1")
    assert feed(s, 10, 13) == [(SeqVerdict.FIRST, 0), (SeqVerdict.NEXT, 2)]
    assert feed(s, 12, 11) == [(SeqVerdict.LATE, -1), (SeqVerdict.LATE, -1)]
    assert feed(s, 12, 11, 14) == [
        (SeqVerdict.DUPLICATE, 0), (SeqVerdict.DUPLICATE, 0), (SeqVerdict.NEXT, 0)
    ]


def test_late_frame_across_the_wrap() -> None:
    s = NodeState("n1")
    feed(s, 65534, 1)
    assert s.observe_seq(65535, False).verdict is SeqVerdict.LATE
    assert s.observe_seq(0, False).verdict is SeqVerdict.LATE
    assert s.observe_seq(0, False).verdict is SeqVerdict.DUPLICATE


def test_far_backwards_is_reboot() -> None:
    s = NodeState("n1")
    feed(s, 5000)
    r = s.observe_seq(1, False)
    assert r.verdict is SeqVerdict.REBOOT and r.accepted
    assert s.reboots == 1
    assert s.observe_seq(2, False).verdict is SeqVerdict.NEXT


def test_hello_going_back_a_little_is_reboot() -> None:
    s = NodeState("n1")
    feed(s, 0, 1, 2, 3)
    r = s.observe_seq(0, True)
    assert r.verdict is SeqVerdict.REBOOT
    # a data frame that far back would have been read as a repeat
    t = NodeState("n2")
    feed(t, 0, 1, 2, 3)
    assert t.observe_seq(0, False).verdict is SeqVerdict.DUPLICATE


def test_backwards_just_past_window_is_reboot() -> None:
    s = NodeState("n1")
    feed(s, 1000)
    assert s.observe_seq(1000 - WINDOW + 1, False).verdict is SeqVerdict.LATE
    assert s.observe_seq(1000 - WINDOW, False).verdict is SeqVerdict.REBOOT


def test_table_creates_and_snapshots() -> None:
    t = NodeTable()
    t.get("b").observe_seq(1, False)
    t.get("a")
    assert len(t) == 2 and t.find("zz") is None
    snap = t.snapshot()
    assert list(snap) == ["a", "b"] and snap["b"]["last_seq"] == 1
