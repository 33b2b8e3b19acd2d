"""Sources: threads that read devices, decode, and put batches on the core's queue."""
