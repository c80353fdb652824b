"""The catalogue of training methods, generated from the engine's registry."""
