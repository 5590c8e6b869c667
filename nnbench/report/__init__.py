"""Reports: read the store's DataFrames and write self-contained HTML pages (plotly, Jinja2).

- :func:`write_report` (``page``): one report page from results, curves and runs DataFrames;
  :func:`nnbench.report.from_store.build_report` does the same from a store file.
- ``figures``: the plotly figure builders; every number they draw comes from :mod:`nnbench.stats`.
- ``tuning_section`` and ``scaling_section``: the data of the page's tuning studies and size sweeps
  (and which trials compete at all: tuning trials never do).
- ``compare``: two runs side by side; ``publish``: a static site of runs; ``export``: CSV, Parquet
  or JSON; ``microbench``: the pytest-benchmark section; ``synthetic``: realistic fake stores for
  tests and benchmarks.
"""

from nnbench.report.page import write_report

__all__ = ["write_report"]
