"""Seedream Studio's performance suite: ``python -m bench [--quick] [--json]``.

Each scenario measures our code and an alternative (or a physical ideal) side by side in the same run and
reports the ratio, its target and pass/fail. The emulator runs in its own process (``bench.emulator_proc``),
so its CPU and memory are never counted as ours.
"""
