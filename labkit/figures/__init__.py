"""Figures and printed reports that the course notebooks draw, one module per topic.

The notebooks keep what teaches (the from-scratch algorithm, the experiment, the labkit
call, the check); the layout of a multi-panel figure or the wording of a computed verdict
lives here, tested like the rest of labkit. Each function returns a matplotlib `Figure` or
a string (`panels` holds the notebooks' widget panels); nothing is shown implicitly.
"""
