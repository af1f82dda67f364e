# Shim for Beam's --setup_file (it wants setup.py); all metadata lives in setup.cfg.
from setuptools import setup
setup()
