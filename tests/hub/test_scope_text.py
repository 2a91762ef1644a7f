"""A device's scope as the hub stores it between pulls: read back exactly as written, whatever
the size, in the format of today or of before; no caller can change what another reads."""

from hub.scope import Scope


def _big_scope(records: int) -> Scope:
    entities = {("time_log", f"log-{i:06d}") for i in range(records)} | {("job", "job-1"), ("ticket", "tkt-1")}
    return Scope(entities, frozenset({"item", "checklist_template"}), {"job-1"}, {"tkt-1"}, {"van-1"})


def test_a_scope_reads_back_as_written_small_or_large():
    for scope in (Scope(), _big_scope(3), _big_scope(5000)):
        assert Scope.loads(scope.dumps()) == scope


def test_a_scope_stored_as_a_list_of_pairs_before_still_reads():
    text = ('{"entities":[["job","job-1"],["time_log","log-1"]],"types":["item"],"jobs":["job-1"],'
            '"tickets":[],"vans":["van-1"]}')
    assert Scope.loads(text) == Scope({("job", "job-1"), ("time_log", "log-1")}, frozenset({"item"}), {"job-1"},
                                      set(), {"van-1"})


def test_changing_a_scope_read_back_changes_nothing_for_the_next_reader():
    scope = _big_scope(5000)
    text = scope.dumps()
    first = Scope.loads(text)
    first.entities.add(("job", "job-2"))
    first.jobs.add("job-2")
    scope.entities.clear()
    assert Scope.loads(text) == _big_scope(5000)
