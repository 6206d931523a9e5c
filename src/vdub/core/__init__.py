"""Infrastructure every stage imports, torch-free: atomic file I/O, strict settings, shot errors, the sample sheet."""
