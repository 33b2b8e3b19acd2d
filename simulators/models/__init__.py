"""Physical models behind the virtual nodes: pure, seeded, driven by a simulated clock.

No model reads the wall clock: time comes in as POSIX seconds. Stateful models
integrate on a fixed internal grid (``SteppedModel``), so what a node reads does
not depend on its sampling interval or on the speed-up of a live run.
"""
