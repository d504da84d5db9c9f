"""Readers and writers: files in, canonical layers out (and back)."""
