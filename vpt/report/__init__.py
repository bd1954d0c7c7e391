"""The self-contained HTML report over any number of runs (`vpt report`): figures, summary
tables (CSV) and the dataset card summary, all computed by vpt.metrics."""
