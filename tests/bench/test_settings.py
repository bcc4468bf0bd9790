"""The benchmarks' settings: read once, checked, with an error that names the variable."""

from __future__ import annotations

import pytest

from bench.settings import Settings, SettingsError


def test_defaults_quick_and_overrides():
    assert Settings.from_env({}).levels == (1, 4, 16)
    quick = Settings.from_env({}, quick=True)
    assert (quick.levels, quick.duration) == ((1, 8), 2.0)
    given = Settings.from_env({"BENCH_LEVELS": "2,32", "BENCH_DURATION": "3.5", "BENCH_GENERATORS": "3"}, quick=True)
    assert (given.levels, given.duration, given.generators) == ((2, 32), 3.5, 3)
    soak = Settings.from_env({"SOAK_SECONDS": "60", "SOAK_SAMPLE_SECONDS": "2"})
    assert (soak.soak_warmup, soak.soak_window) == (20.0, 10.0)
    assert Settings.from_env({"SOAK_SECONDS": "600"}).soak_warmup == 40.0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BENCH_LEVELS": "1,many"}, "BENCH_LEVELS='1,many' is not a comma-separated list of whole numbers"),
        ({"BENCH_LEVELS": "0,4"}, "BENCH_LEVELS='0,4': every level is 1 connection or more"),
        ({"BENCH_DURATION": "six"}, "BENCH_DURATION='six' is not a number"),
        ({"BENCH_DEADLINE": "0"}, "BENCH_DEADLINE='0' must be a number above 0"),
        ({"SOAK_RATE": "-5"}, "SOAK_RATE='-5' must be a number of 0 or more"),
        ({"BENCH_GENERATORS": "2.5"}, "BENCH_GENERATORS='2.5' is not a whole number"),
        ({"SOAK_SECONDS": "inf"}, "SOAK_SECONDS='inf' must be a number above 0"),
    ],
)
def test_a_bad_value_names_its_variable(env, message):
    with pytest.raises(SettingsError) as raised:
        Settings.from_env(env)
    assert str(raised.value) == message
