import pytest
from django.db import transaction

from cloudpbx.core import events


@pytest.fixture
def recorder():
    calls = []

    def every(**payload):
        calls.append(("every", payload))

    def once(**payload):
        calls.append(("once", payload))

    events.subscribe("test.changed", every)
    events.subscribe("test.changed", once, once_per_commit=True)
    yield calls
    events.unsubscribe("test.changed", every)
    events.unsubscribe("test.changed", once)


def test_subscribers_run_after_commit_in_order(transactional_db, recorder):
    with transaction.atomic():
        events.publish("test.changed", item=1)
        events.publish("test.changed", item=2)
        assert recorder == []
    assert recorder == [
        ("every", {"item": 1}),
        ("once", {"item": 1}),
        ("every", {"item": 2}),
    ]


def test_nothing_is_delivered_after_a_rollback(transactional_db, recorder):
    with pytest.raises(RuntimeError), transaction.atomic():
        events.publish("test.changed", item=1)
        raise RuntimeError
    with transaction.atomic():
        events.publish("test.changed", item=3)
    assert recorder == [("every", {"item": 3}), ("once", {"item": 3})]


def test_a_failing_subscriber_does_not_stop_the_others(transactional_db, recorder):
    def broken(**payload):
        raise ValueError("boom")

    events.subscribe("test.changed", broken)
    try:
        events.publish("test.changed", item=4)
    finally:
        events.unsubscribe("test.changed", broken)
    assert ("every", {"item": 4}) in recorder
