"""The registry of trained encoders."""
