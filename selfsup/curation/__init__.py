"""Label efficiency on top of embeddings: pure numpy, scikit-learn and usearch, no torch.

``fewshot`` fits and stores linear classifiers on frozen vectors; ``search`` holds the exact and HNSW vector
indexes; ``neighbors`` the k-nearest-neighbour graph the others read; ``quality`` finds duplicates, outliers
and labels that disagree with their neighbours; ``selection`` picks what to label next; ``maps`` lays vectors
out in 2-D. Import the module you need (``selfsup.curation.search``): importing this package loads none of
them, so neither usearch nor umap loads until asked for.
"""
