"""The evaluators' contract: the trial table every decision maker writes (schema), how runs
are stored (store) and how a dataset is read (items)."""
