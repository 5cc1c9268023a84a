"""Hostile servers for the proof that every run stays within its time and memory bounds.

``python -m tests.hostile.server MODE [LOG]`` serves one misbehaviour on 127.0.0.1 and
prints its port; ``tests/test_hostile.py`` points ``conformance check`` at it.
"""
