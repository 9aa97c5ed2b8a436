"""Poller autoscaling and the resource-based tuner, from the same variables in both services."""

from __future__ import annotations

import pytest
from temporalio.worker import PollerBehaviorAutoscaling, ResourceBasedTunerConfig

from batcher_service.settings import BatcherSettings
from main_service.settings import MainSettings
from tests.support.settings_support import DB, MAIN
from write_batcher_kit.settings import SettingsError, WorkerTuning


def test_each_service_has_its_poller_default_and_keeps_the_fixed_slots() -> None:
    # The batcher's task queue takes every caller's writes: its pollers scale; main's are the
    # SDK's fixed five.
    assert MainSettings.from_env(MAIN).tuning == WorkerTuning()
    assert BatcherSettings.from_env(DB).tuning == WorkerTuning(PollerBehaviorAutoscaling())
    blank = {
        name: "" for name in ("WORKER_POLLER_AUTOSCALING", "WORKER_POLLER_MIN", "WORKER_TUNER")
    }
    # Compose's "" is unset: each service's own default.
    assert MainSettings.from_env({**MAIN, **blank}).tuning == WorkerTuning()
    assert BatcherSettings.from_env({**DB, **blank}).tuning == WorkerTuning(
        PollerBehaviorAutoscaling()
    )
    off = {"WORKER_POLLER_AUTOSCALING": "false"}
    assert BatcherSettings.from_env({**DB, **off}).tuning == WorkerTuning()
    # Bounds alone tune the batcher's autoscaling (main refuses them: see below).
    bounded = BatcherSettings.from_env({**DB, "WORKER_POLLER_MAX": "20"}).tuning
    assert bounded == WorkerTuning(PollerBehaviorAutoscaling(maximum=20))
    assert WorkerTuning().worker_options(max_concurrent_activities=7) == {
        "max_concurrent_activities": 7
    }


def test_worker_tuning_from_the_environment_in_both_services() -> None:
    env = {
        "WORKER_POLLER_AUTOSCALING": "true",
        "WORKER_POLLER_MIN": "2",
        "WORKER_POLLER_MAX": "12",
        "WORKER_POLLER_INITIAL": "3",
        "WORKER_TUNER": "resource-based",
        "WORKER_TUNER_TARGET_MEMORY": "0.6",
        "WORKER_TUNER_TARGET_CPU": "1",
    }
    expected = WorkerTuning(
        PollerBehaviorAutoscaling(minimum=2, maximum=12, initial=3),
        ResourceBasedTunerConfig(target_memory_usage=0.6, target_cpu_usage=1.0),
    )
    assert MainSettings.from_env({**MAIN, **env}).tuning == expected
    assert BatcherSettings.from_env({**DB, **env}).tuning == expected
    options = expected.worker_options(max_concurrent_activities=7)
    assert "max_concurrent_activities" not in options  # the SDK refuses both
    assert options["workflow_task_poller_behavior"] == expected.pollers
    assert options["activity_task_poller_behavior"] == expected.pollers
    # The SDK's defaults where only the switches are given; fixed slots beside pollers.
    only = MainSettings.from_env(
        {**MAIN, "WORKER_POLLER_AUTOSCALING": "1", "WORKER_MAX_CONCURRENT_ACTIVITIES": "9"}
    )
    assert only.tuning == WorkerTuning(PollerBehaviorAutoscaling())
    assert only.max_concurrent_activities == 9
    resources = BatcherSettings.from_env({**DB, "WORKER_TUNER": "resource-based"}).tuning
    assert resources.resources == ResourceBasedTunerConfig(0.8, 0.9)


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"WORKER_TUNER": "resource-based", "WORKER_MAX_CONCURRENT_ACTIVITIES": "10"},
         ["WORKER_TUNER", "WORKER_MAX_CONCURRENT_ACTIVITIES"]),
        ({"WORKER_POLLER_AUTOSCALING": "false", "WORKER_POLLER_MAX": "9"},
         ["WORKER_POLLER_MAX", "WORKER_POLLER_AUTOSCALING"]),
        ({"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_MIN": "8", "WORKER_POLLER_MAX": "4"},
         ["WORKER_POLLER_MIN", "WORKER_POLLER_INITIAL", "WORKER_POLLER_MAX"]),
        ({"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_INITIAL": "200"},
         ["WORKER_POLLER_INITIAL", "WORKER_POLLER_MAX"]),
        ({"WORKER_POLLER_AUTOSCALING": "sometimes"}, ["WORKER_POLLER_AUTOSCALING"]),
        ({"WORKER_POLLER_AUTOSCALING": "true", "WORKER_POLLER_MIN": "0"}, ["WORKER_POLLER_MIN"]),
        ({"WORKER_TUNER": "auto"}, ["WORKER_TUNER"]),
        ({"WORKER_TUNER_TARGET_CPU": "0.5"}, ["WORKER_TUNER_TARGET_CPU", "WORKER_TUNER"]),
        ({"WORKER_TUNER": "resource-based", "WORKER_TUNER_TARGET_MEMORY": "80"},
         ["WORKER_TUNER_TARGET_MEMORY"]),
        ({"WORKER_TUNER": "resource-based", "WORKER_TUNER_TARGET_CPU": "0"},
         ["WORKER_TUNER_TARGET_CPU"]),
    ],
)  # fmt: skip
def test_bad_worker_tuning_is_refused_in_both_services(
    env: dict[str, str], names: list[str]
) -> None:
    for load, base in ((MainSettings.from_env, MAIN), (BatcherSettings.from_env, DB)):
        with pytest.raises(SettingsError) as caught:
            load({**base, **env})
        message = str(caught.value)
        assert all(name in message for name in names), message
        assert "\n" not in message


def test_poller_bounds_without_autoscaling_are_refused_where_it_is_off() -> None:
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({**MAIN, "WORKER_POLLER_MIN": "2"})
    assert "WORKER_POLLER_MIN" in str(caught.value)
    assert "WORKER_POLLER_AUTOSCALING" in str(caught.value)


def test_a_tuner_names_every_fixed_slot_variable_the_service_reads() -> None:
    fixed = {"WORKER_MAX_CONCURRENT_ACTIVITIES": "5", "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "5"}
    with pytest.raises(SettingsError) as caught:
        MainSettings.from_env({**MAIN, **fixed, "WORKER_TUNER": "resource-based"})
    assert all(name in str(caught.value) for name in fixed)
    # The batcher has no workflow-task slot setting: that variable is not its concern.
    batcher = BatcherSettings.from_env(
        {**DB, "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "5", "WORKER_TUNER": "resource-based"}
    )
    assert batcher.tuning.resources is not None
