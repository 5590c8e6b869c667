"""Fuzzing suite files: whatever a user writes, nnbench answers with clear error lines or a plan, never a traceback."""

from __future__ import annotations

import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nnbench.cli import cli
from nnbench.errors import MAX_ERRORS_SHOWN

KEYS = [
    "name",
    "description",
    "device",
    "seeds",
    "budget",
    "training",
    "threads",
    "plugins",
    "executor",
    "tasks",
    "architectures",
    "cost",
    "steps",
    "time",
    "lr",
    "batch_size",
    "kind",
    "workers",
    "timeout",
    "width",
    "depth",
    "price_per_hour_usd",
    "cpu",
    "bogus",
]
NAMES = ["mlp", "cnn", "digits", "toy2d", "tabular-real", "running-parity", "nope", ""]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        NAMES + ["30s", "5m", "1h", "10", "-1s", "auto", "cpu", "cuda", "process", "inline", "1e-3"]
    ),
    st.text(max_size=8),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=4),
    ),
    max_leaves=12,
)
suites = st.dictionaries(st.sampled_from(KEYS), values, max_size=8)
# Near-valid suites find deeper paths (task options, grids, overrides) than random ones.
near_valid = st.fixed_dictionaries(
    {
        "name": st.one_of(st.just("x"), scalars),
        "budget": st.one_of(
            st.fixed_dictionaries({"steps": scalars}), st.fixed_dictionaries({"time": scalars}), values
        ),
        "tasks": st.one_of(st.lists(st.sampled_from(NAMES), max_size=3), values),
        "architectures": st.one_of(
            st.lists(
                st.one_of(
                    st.sampled_from(NAMES),
                    st.fixed_dictionaries(
                        {"name": st.sampled_from(NAMES), "width": values},
                        optional={"training": values, "size": values, "search_space": values},
                    ),
                ),
                max_size=3,
            ),
            values,
        ),
    },
    optional={"seeds": values, "training": values, "executor": values, "cost": values, "threads": values},
)


def check(tmp_path, text: str) -> None:
    path = tmp_path / "fuzz.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["run", str(path), "--dry-run", "--db", str(tmp_path / "f.db")])
    assert result.exit_code in (0, 2), (text, result.output, result.exception)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        # Every error of the suite, one line each (at most MAX_ERRORS_SHOWN, then how many more).
        lines = [line for line in result.output.splitlines() if line.startswith("error:")]
        assert 1 <= len(lines) <= MAX_ERRORS_SHOWN + 1, result.output
        for line in lines:
            assert str(path) in line or "--db" in line or "device" in line or "more error" in line, line


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suite=st.one_of(suites, near_valid))
def test_structured_suites_never_escape_as_tracebacks(tmp_path, suite):
    check(tmp_path, yaml.safe_dump(suite, allow_unicode=True))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    text=st.text(alphabet=st.sampled_from(list("name: budget{}[]-,'\"\n\t#&*!|>%@`steps10s")), max_size=80)
)
def test_arbitrary_text_never_escapes_as_a_traceback(tmp_path, text):
    check(tmp_path, text)
