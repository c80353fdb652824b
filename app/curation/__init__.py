"""What teams do with a dataset's embeddings besides search: a data-quality report (duplicates, outliers,
likely label errors), choosing what to label next, and a 2-D map."""
