"""Audio in and out: decoding, resampling, filtering, slicing."""
