"""How good the plausibility flags are: a labelled evaluation set (`generate`), loaded into a
throwaway database and scored per fraud pattern and on honest records (`measure`).

`python -m bench.flags [--seed S]` prints the table that bench/README.md keeps.
"""
