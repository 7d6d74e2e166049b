"""Fault injection under load on a 3-node stack, checked Jepsen-style (``orderstream chaos``).

``env`` starts a disposable stack, ``scenarios`` are the faults, ``runner`` drives one scenario
(load, fault, recovery, measures), ``checkers`` judge it, ``report`` prints it.
"""
